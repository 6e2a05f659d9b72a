"""A/B of JAX compile settings on one model, in one process: each variant's
step is compiled side by side and the calls alternate, so the machine's
load changes hit every variant alike (on a shared machine, figures from
separate runs differ by more than the effects measured here).

    KERAS_BACKEND=jax python benchmarks/jax_ab.py MobileNetV4ConvSmall \
        --step grad --variants default options no-custom-gradients

Steps: `grad` (the loss and its gradient through `model.stateless_call`
in training, as `fit` computes them, without the optimizer update) or
`infer` (inference). Variants:

- `options`: `keras_mobilenets.fast.xla_cpu.OPTIONS`, as our models'
  Keras steps compile (`default`: JAX's own compiler options);
- `no-custom-gradients`: the options, with our kernels' own gradients off
  (`fast.shifted.CUSTOM_GRADIENTS = False`: JAX differentiates them).

Prints, per variant, the compile time, the largest difference of its
outputs (loss and gradients, or predictions) from the first variant's, over
their largest value, and the min / median ms of --rounds x 2 calls.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_mobilenets import registry  # noqa: E402
from keras_mobilenets.fast import shifted, xla_cpu  # noqa: E402

VARIANTS = {  # name -> (compiler options, CUSTOM_GRADIENTS)
    "default": (lambda: {}, True),
    "options": (lambda: dict(xla_cpu.OPTIONS), True),
    "no-custom-gradients": (lambda: dict(xla_cpu.OPTIONS), False),
}


def step_function(model, step, batch):
    """(jax.jit of the step, its arguments) for `model` at its input size."""
    import jax

    batch_shape = (batch,) + tuple(model.input_shape[1:])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, batch_shape).astype("float32")
    trainable = [v.value for v in model.trainable_variables]
    fixed = [v.value for v in model.non_trainable_variables]
    if step == "infer":
        def infer(trainable, fixed, x):
            return model.stateless_call(trainable, fixed, x)[0]
        return jax.jit(infer), (trainable, fixed, x)
    classes = model.output_shape[-1]
    y = rng.integers(0, classes, batch_shape[:1])

    def loss(trainable, fixed, x, y):
        out, fixed = model.stateless_call(trainable, fixed, x, training=True)
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
            y, out)), fixed
    return jax.jit(jax.value_and_grad(loss, has_aux=True)), (
        trainable, fixed, x, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a registered model name")
    parser.add_argument("--step", choices=("grad", "infer"), default="grad")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS),
                        default=["default", "options"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    if keras.backend.backend() != "jax":
        parser.error("run it with KERAS_BACKEND=jax. Received: "
                     f"{keras.backend.backend()!r}")
    import jax

    model = registry.get(args.model).builder(
        weights=None, input_shape=(args.size, args.size, 3))
    compiled, outputs = {}, {}
    for name in args.variants:
        options, custom = VARIANTS[name]
        shifted.CUSTOM_GRADIENTS = custom
        try:
            # A new jit per variant: JAX caches a jitted function's trace,
            # which would keep the first variant's CUSTOM_GRADIENTS.
            fn, fn_args = step_function(model, args.step, args.batch)
            start = time.perf_counter()
            compiled[name] = fn.lower(*fn_args).compile(
                compiler_options=options())
            seconds = time.perf_counter() - start
        finally:
            shifted.CUSTOM_GRADIENTS = True
        outputs[name] = jax.tree.leaves(compiled[name](*fn_args))
        first = outputs[args.variants[0]]
        diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                   for a, b in zip(outputs[name], first))
        scale = max(float(np.max(np.abs(b))) for b in first)
        print(f"{name}: compiled in {seconds:.1f} s, max difference from "
              f"{args.variants[0]} (of the largest output): "
              f"{diff / scale:.2g}")
    times = {name: [] for name in compiled}
    for _ in range(args.rounds):
        for name, fn in compiled.items():
            jax.block_until_ready(fn(*fn_args))
            for _ in range(2):
                start = time.perf_counter()
                jax.block_until_ready(fn(*fn_args))
                times[name].append(time.perf_counter() - start)
    print(f"\n{args.model}, {args.step}, batch {args.batch} at {args.size}: "
          f"ms, min / median of {2 * args.rounds} calls, alternating\n")
    print("| variant | min ms | median ms |\n|---|--:|--:|")
    for name, ts in times.items():
        print(f"| {name} | {1e3 * min(ts):.1f} | "
              f"{1e3 * statistics.median(ts):.1f} |")
    return times


if __name__ == "__main__":
    main()
