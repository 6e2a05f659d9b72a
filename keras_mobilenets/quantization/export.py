"""The int8 LiteRT file of a QAT model, written from its learned ranges by
TensorFlow's converter (in a child process under another backend)."""

import os
import subprocess
import sys
import tempfile

import keras
import numpy as np

from .. import export as km_export
from .calibration import quantizers, uncalibrated
from .layers import ActivationQuantizer


def export_litert(qat, path):
    """Writes the int8 LiteRT file of `qat` (a calibrated model of
    `quantization.prepare`) to `path` and returns `path`: int8 weights and
    activations with the model's ranges (no calibration images), float32
    input and output (a QUANTIZE op first, a DEQUANTIZE last).

    TensorFlow's converter writes it: under another backend the model is
    saved to a temporary `.keras` file and exported by a child process
    under `KERAS_BACKEND=tensorflow`.
    """
    missing = uncalibrated(qat)
    if missing:
        raise ValueError(
            "export_litert needs a calibrated QAT model: run "
            "`quantization.calibrate(qat, images)` (or train it) first. "
            f"Received: a model whose {len(missing)} activation ranges are "
            f"unset ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"`path` must be in an existing folder. "
                         f"Received: path={path!r}")
    if keras.backend.backend() == "tensorflow":
        _convert(qat, path)
        return path
    with tempfile.TemporaryDirectory() as tmp:
        handoff = os.path.join(tmp, "qat.keras")
        qat.save(handoff)
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        done = subprocess.run(
            [sys.executable, "-m", "keras_mobilenets.quantization.export",
             handoff, os.path.abspath(path)],
            env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError("The int8 LiteRT export under TensorFlow failed:\n"
                           + done.stderr[-4000:])
    return path


def _convert(qat, path):
    import tensorflow as tf

    qat.export(path, format="litert", verbose=False,
               optimizations=[tf.lite.Optimize.DEFAULT])


def main(argv):
    """`python -m keras_mobilenets.quantization.export IN.keras OUT.tflite`
    (running it imports the package first: its layers are registered)."""
    qat = keras.saving.load_model(argv[0], compile=False)
    export_litert(qat, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def command(args):
    """`keras-mobilenets export --model-file QAT.keras --int8 --output F`:
    the int8 LiteRT file of a QAT model saved as `.keras` (any backend),
    from its learned ranges, checked against the QAT Keras model on random
    inputs over its calibrated input range."""
    given = [f"--{flag.replace('_', '-')}" for flag in (
        "model", "preset", "weights", "alpha", "size", "calibration")
        if getattr(args, flag, None) is not None]
    if given or not args.int8 or args.format != "litert":
        raise ValueError(
            "`--model-file` exports a QAT model (keras_mobilenets."
            "quantization) to int8 LiteRT from its own ranges: pass it with "
            "`--int8` and without --model, --preset, --weights, --alpha, "
            "--size and --calibration. Received: "
            + (", ".join(given) if given else
               f"--format {args.format}{' --int8' if args.int8 else ''}"))
    if not os.path.isfile(args.model_file):
        raise ValueError(f"`--model-file` must be a .keras file. Received: "
                         f"{args.model_file!r}")
    qat = keras.saving.load_model(args.model_file, compile=False)
    try:
        quantizers(qat)
    except ValueError:
        raise ValueError(
            "`--model-file` must hold a QAT model of keras_mobilenets."
            "quantization.prepare (a float model exports with --model or "
            f"--preset and --calibration). Received: {args.model_file}") from None
    export_litert(qat, args.output)
    nbytes = os.path.getsize(args.output)
    print(f"wrote {args.output}: LiteRT int8 from the QAT model's ranges, "
          f"{nbytes:,} bytes ({nbytes / 1e6:.2f} MB)")
    shape = tuple(qat.inputs[0].shape[1:])
    first = qat.layers[1] if len(qat.layers) > 1 else None
    low, high = ((float(v) for v in first.range())
                 if isinstance(first, ActivationQuantizer) else (0.0, 255.0))
    x = np.random.default_rng(0).uniform(low, high, (8, *shape))
    x = x.astype("float32")
    want = keras.ops.convert_to_numpy(qat(x, training=False))
    got = km_export.run_file(args.output, x, "litert")
    last = [layer for layer in qat.layers
            if isinstance(layer, ActivationQuantizer)][-1]
    lo, hi = (float(v) for v in last.range())
    step = (hi - lo) / 255
    top1, _ = km_export.agreement(got, want)
    print(f"vs the QAT Keras model on {len(x)} random inputs in "
          f"[{low:g}, {high:g}]: max abs diff {np.abs(got - want).max():.2e} "
          f"({np.abs(got - want).max() / step:.1f} output steps of "
          f"{step:.2e}), top-1 agreement {top1:.0%}")
    return 0
