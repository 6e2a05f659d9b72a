"""The int8 LiteRT file of a QAT model, written from its learned ranges by
TensorFlow's converter (in a child process under another backend)."""

import os
import subprocess
import sys
import tempfile

import keras

from .calibration import uncalibrated


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
    """`python -m keras_mobilenets.quantization.export IN.keras OUT.tflite`."""
    import keras_mobilenets  # noqa: F401  (registers the custom layers)

    qat = keras.saving.load_model(argv[0], compile=False)
    export_litert(qat, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
