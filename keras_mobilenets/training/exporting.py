"""The export step of `train`: the saved `.keras` file to LiteRT (float32
or int8) or ONNX, checked against Keras on validation images. It runs under
TensorFlow; `train` under another backend runs it in a child process
(`python -m keras_mobilenets.training.exporting SPEC.json`), the `.keras`
file being the hand-off."""

import json
import os
import subprocess
import sys

import keras
import numpy as np

from .. import data, export, quantization

CHECK_IMAGES = 32
CALIBRATION_IMAGES = 100


def export_file(model_file, fmt, path, check, calibration=None):
    """Writes `model_file`'s model to `path` and prints how the file agrees
    with Keras on the image files `check` (int8: calibrated on the image
    files `calibration`). Returns {"max_abs_diff", "top1_agreement"}."""
    export.require_tensorflow()
    model = keras.saving.load_model(model_file)
    transform = data.EvalTransform(model.data_config)

    def inputs(paths):
        return np.stack([transform(p) for p in paths])

    x = inputs(check)
    want = keras.ops.convert_to_numpy(model(x, training=False))
    if fmt == "onnx":
        export.export_onnx(model, path)
    else:
        export.export_litert(model, path, None if calibration is None
                             else inputs(calibration))
    kind = {"onnx": "ONNX", "litert": "LiteRT int8" if calibration
            else "LiteRT float32"}[fmt]
    return _checked(path, fmt, kind, "Keras", x, want, (
        f" (calibrated on {len(calibration)} training images)"
        if calibration else ""))


def export_qat(qat, path, check):
    """The int8 LiteRT file of the QAT model `qat` (its learned ranges, on
    any backend: `quantization.export_litert`), and how it agrees with the
    QAT Keras model on the image files `check`."""
    quantization.export_litert(qat, path)
    transform = data.EvalTransform(qat.data_config)
    x = np.stack([transform(p) for p in check])
    want = keras.ops.convert_to_numpy(qat(x, training=False))
    return _checked(path, "litert", "LiteRT int8 (quantization-aware)",
                    "the QAT Keras model", x, want)


def _checked(path, fmt, kind, against, x, want, note=""):
    """Runs the written file on the validation inputs `x`, prints its size
    and how it agrees with `want` (the Keras model's outputs), and returns
    {"max_abs_diff", "top1_agreement"}."""
    got = export.run_file(path, x, fmt)
    diff, scale, relative = export.max_difference(got, want)
    top1, _ = export.agreement(got, want)
    print(f"wrote {path}: {kind}, {os.path.getsize(path):,} bytes")
    print(f"max abs diff vs {against}: {diff:.2e} on {len(x)} validation "
          f"images; outputs up to {scale:.2e}; relative {relative:.2e}; "
          f"top-1 agreement {top1:.1%}{note}")
    return {"max_abs_diff": diff, "top1_agreement": top1}


def run(model_file, fmt, path, check, calibration=None):
    """`export_file` here under TensorFlow, else in a child process with
    KERAS_BACKEND=tensorflow."""
    if keras.backend.backend() == "tensorflow":
        return export_file(model_file, fmt, path, check, calibration)
    spec = path + ".spec.json"
    with open(spec, "w") as f:
        json.dump({"model_file": model_file, "fmt": fmt, "path": path,
                   "check": check, "calibration": calibration}, f)
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        child = subprocess.run(
            [sys.executable, "-m", "keras_mobilenets.training.exporting", spec],
            env=env, capture_output=True, text=True)
    finally:
        os.remove(spec)
    if child.returncode != 0:
        raise ValueError("The export (under TensorFlow, in a child process) "
                         f"failed:\n{child.stderr[-3000:]}")
    lines = child.stdout.strip().splitlines()
    print("\n".join(lines[:-1]))
    return json.loads(lines[-1])


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        result = export_file(**json.load(f))
    print(json.dumps(result))
