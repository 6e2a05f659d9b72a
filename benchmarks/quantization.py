"""Float vs post-training int8 vs QAT int8 on real images: MobileNet alpha
0.25 from the shipped ImageNet weights with a new 10-class head, fine-tuned
on CIFAR-10 (JPEG class folders, upscaled to --size), then

- float: the Keras model's top-1 on the test subset;
- PTQ: `keras_mobilenets.export.export_litert` calibrated on --calibration
  training images, the LiteRT file's top-1;
- QAT: `quantization.prepare`, `calibrate` on the same images, --qat-epochs
  of fine-tuning, the QAT Keras model's top-1 and its LiteRT file's, and
  the file's agreement with the QAT Keras model (top-1, logits in output
  steps);
- file sizes, and LiteRT (XNNPACK) latency at batch 1, float32 vs int8, 1
  and 2 threads.

    KERAS_BACKEND=tensorflow python benchmarks/quantization.py \
        --data /work/cifar10 --out quantization.json
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import keras
import numpy as np
from PIL import Image

import keras_mobilenets as km
from keras_mobilenets import bundled, export, quantization


def load(folder, per_class, size, seed):
    """(images as V1 inputs in [-1, 1], labels): `per_class` images of each
    class folder (sorted, then a seeded choice), resized bilinearly."""
    classes = sorted(os.listdir(folder))
    rng = np.random.default_rng(seed)
    x, y = [], []
    for label, name in enumerate(classes):
        files = sorted(os.listdir(os.path.join(folder, name)))
        for f in rng.choice(files, per_class, replace=False):
            image = Image.open(os.path.join(folder, name, f)).convert("RGB")
            x.append(np.asarray(image.resize((size, size), Image.BILINEAR)))
            y.append(label)
    order = rng.permutation(len(y))
    x = np.stack(x).astype("float32")[order] / 127.5 - 1.0
    return x, np.asarray(y)[order]


def classifier(size, classes, v2_weights=None):
    """The shipped V1 0.25 ImageNet weights (or, `v2_weights`: a
    MobileNetV2 alpha 0.35 no-top Keras file), its features, a new head."""
    if v2_weights:
        base = km.MobileNetV2(alpha=0.35, include_top=False,
                              weights=v2_weights, input_shape=(size, size, 3))
        x = base.output
    else:
        base = km.MobileNet(alpha=bundled.ALPHA,
                            weights=bundled.weights_file(),
                            input_shape=(size, size, 3))
        x = base.get_layer("conv_pw_13_relu").output
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dropout(0.2, name="head_dropout")(x)
    x = keras.layers.Dense(classes, name="head_logits")(x)
    return keras.Model(base.input, x, name="mobilenet_025_cifar10")


def file_outputs(path, x, threads=None):
    run = export.litert_runner(path, 1, x.shape[1], threads)
    return np.concatenate([run(x[i:i + 1]) for i in range(len(x))])


def builtin_kernel_outputs(path, x):
    """The file's outputs from LiteRT's own int8 kernels, without the
    XNNPACK delegate that `file_outputs` (LiteRT's default) runs: they
    requantize in fixed point with two roundings, XNNPACK in float32."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=path, experimental_op_resolver_type=(
            OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def latency(path, size, threads, runs=200):
    run = export.litert_runner(path, 1, size, threads)
    x = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3))
    x = x.astype("float32")
    for _ in range(20):
        run(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/work/cifar10")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=200)
    parser.add_argument("--calibration", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument("--v2-weights", default=None, help="MobileNetV2 "
                        "0.35's no-top Keras file instead of the shipped V1")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    train_x, train_y = load(os.path.join(args.data, "train"),
                            args.train_per_class, args.size, 0)
    test_x, test_y = load(os.path.join(args.data, "test"),
                          args.test_per_class, args.size, 1)
    calibration = train_x[:args.calibration]
    result = {"model": ("MobileNetV2 alpha 0.35" if args.v2_weights else
                        "MobileNet alpha 0.25 (shipped") + " ImageNet weights"
              + (")" if not args.v2_weights else "") + ", new 10-class head",
              "size": args.size,
              "train_images": len(train_x), "test_images": len(test_x),
              "calibration_images": len(calibration),
              "float_epochs": args.epochs, "qat_epochs": args.qat_epochs,
              "backend": keras.backend.backend()}
    tick = time.time()
    model = classifier(args.size, 10, args.v2_weights)
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train_x, train_y, batch_size=64, epochs=args.epochs, verbose=2)
    result["float_keras"] = float(np.mean(
        model.predict(test_x, verbose=0).argmax(-1) == test_y))
    result["float_seconds"] = time.time() - tick

    folder = tempfile.mkdtemp()
    paths = {k: os.path.join(folder, f"{k}.tflite")
             for k in ("float", "ptq", "qat")}
    export.export_litert(model, paths["float"])
    export.export_litert(model, paths["ptq"], calibration)
    result["float_litert"] = float(np.mean(
        file_outputs(paths["float"], test_x).argmax(-1) == test_y))
    result["ptq_litert"] = float(np.mean(
        file_outputs(paths["ptq"], test_x).argmax(-1) == test_y))

    tick = time.time()
    qat = quantization.prepare(model)
    quantization.calibrate(qat, calibration, batch_size=64)
    result["qat_keras_before_training"] = float(np.mean(
        qat.predict(test_x, verbose=0).argmax(-1) == test_y))
    qat.compile(keras.optimizers.Adam(1e-4),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    qat.fit(train_x, train_y, batch_size=64, epochs=args.qat_epochs,
            verbose=2)
    result["qat_seconds"] = time.time() - tick
    want = qat.predict(test_x, verbose=0)
    result["qat_keras"] = float(np.mean(want.argmax(-1) == test_y))
    quantization.export_litert(qat, paths["qat"])
    got = file_outputs(paths["qat"], test_x)
    result["qat_litert"] = float(np.mean(got.argmax(-1) == test_y))
    result["qat_file_vs_keras_top1"] = float(np.mean(
        got.argmax(-1) == want.argmax(-1)))
    last = [layer for layer in qat.layers
            if isinstance(layer, quantization.ActivationQuantizer)][-1]
    low, high = (float(v) for v in last.range())
    step = (high - low) / 255
    diff = np.abs(got - want) / step
    result["qat_file_vs_keras_steps"] = {
        "max": float(diff.max()), "mean": float(diff.mean()),
        "median": float(np.median(diff)),
        "p99": float(np.percentile(diff, 99))}
    # Rows whose top-1 is a tie of int8 logits (argmax takes the first).
    result["qat_file_or_keras_tied_top1"] = int(
        export.tied(got) + export.tied(want))
    builtin = builtin_kernel_outputs(paths["qat"], test_x)
    result["qat_file_builtin_kernels_vs_keras_top1"] = float(np.mean(
        builtin.argmax(-1) == want.argmax(-1)))
    result["qat_file_builtin_kernels_vs_keras_mean_steps"] = float(
        np.mean(np.abs(builtin - want) / step))
    result["bytes"] = {k: os.path.getsize(p) for k, p in paths.items()}
    result["latency_ms_batch1"] = {
        f"{k} {t} thread{'s' if t > 1 else ''}": latency(paths[k], args.size, t)
        for k in ("float", "ptq", "qat") for t in (1, 2)}
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
