"""Training speed of our fast layers against Keras' own, layer by layer, on
the active backend: which gradient makes a training step slower.

    KERAS_BACKEND=torch python benchmarks/layer_training.py [--batch 32]

For each layer of `keras_mobilenets.layers` that has a faster inference
kernel (Conv2D, DepthwiseConv2D, BatchNormalization), at shapes of
MobileNetV2 at 224x224, a one-layer model takes `train_on_batch` steps (SGD,
mean squared error: forward, gradient, update) with Keras' layer and with
ours, called in turn; the best of --repeats steps each, after a warm-up
(compilation). Prints one Markdown row per layer and shape: milliseconds
per step, and ours / Keras' (below 1: ours is faster).
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_mobilenets import layers as ours  # noqa: E402

# (layer class name, arguments, input (rows, cols, channels)): MobileNetV2's
# stem, a stride-1 and a stride-2 depthwise, an expansion and a projection.
CASES = [
    ("Conv2D", dict(filters=32, kernel_size=3, strides=2, padding="same",
                    use_bias=False), (224, 224, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, padding="same", use_bias=False),
     (112, 112, 32)),
    ("DepthwiseConv2D", dict(kernel_size=3, strides=2, padding="valid",
                             use_bias=False), (57, 57, 144)),
    ("DepthwiseConv2D", dict(kernel_size=3, padding="same", use_bias=False),
     (14, 14, 384)),
    ("Conv2D", dict(filters=144, kernel_size=1, use_bias=False), (56, 56, 24)),
    ("Conv2D", dict(filters=24, kernel_size=1, use_bias=False), (56, 56, 144)),
    ("BatchNormalization", dict(epsilon=1e-3, momentum=0.999), (56, 56, 144)),
]


def step(cls, kwargs, shape, batch):
    model = keras.Sequential([keras.Input(shape), cls(**kwargs)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape).astype("float32")
    y = rng.standard_normal((batch,) + model.output_shape[1:]).astype("float32")
    return lambda: model.train_on_batch(x, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"Backend **{keras.backend.backend()}**, batch {args.batch}: "
          f"`train_on_batch` ms, best of {args.repeats}.\n")
    print("| layer | input | Keras ms | ours ms | ours / Keras |")
    print("|---|---|--:|--:|--:|")
    for name, kwargs, shape in CASES:
        runs = {impl: step(getattr(module, name), kwargs, shape, args.batch)
                for impl, module in (("keras", keras.layers), ("ours", ours))}
        for run in runs.values():  # warm-up: compilation
            run()
            run()
        times = {impl: [] for impl in runs}
        for _ in range(args.repeats):
            for impl, run in runs.items():
                start = time.perf_counter()
                run()
                times[impl].append(time.perf_counter() - start)
        best = {impl: 1000 * min(t) for impl, t in times.items()}
        described = ", ".join(f"{k}={v}" for k, v in kwargs.items()
                              if k in ("filters", "kernel_size", "strides", "padding"))
        print(f"| {name}({described}) | {'x'.join(map(str, shape))} | "
              f"{best['keras']:.1f} | {best['ours']:.1f} | "
              f"{best['ours'] / best['keras']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
