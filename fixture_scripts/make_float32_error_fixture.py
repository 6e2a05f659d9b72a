"""tests/fixtures/float32_error.json: for each model of tests/test_robustness.py
on one backend, max |float32 logits - float64 logits| of the same randomized
model (tests/robustness_reference.py) on the same inputs, the float64 model
built with the "float64" dtype policy. The robustness tests bound their
float32-vs-float32 comparisons (channels_first vs channels_last, a `.keras`
file under another backend) by a multiple of it, not by one machine's run.

    KERAS_BACKEND=torch PYTHONPATH=$PWD:$PWD/tests python fixture_scripts/make_float32_error_fixture.py [NAME ...]

Run once per backend; each run updates that backend's entries."""

import contextlib
import json
import os
import sys

import keras
import numpy as np

import robustness_reference as ref
from conftest import model_outputs


def measure(name):
    model = ref.randomized(name)
    x = ref.inputs(name)
    y32 = np.asarray(model_outputs(model, x), np.float64)
    context = contextlib.nullcontext()
    if keras.backend.backend() == "jax":
        import jax

        context = jax.enable_x64(True)
    with context:
        keras.config.set_dtype_policy("float64")
        try:
            model64 = ref.build(name)
        finally:
            keras.config.set_dtype_policy("float32")
        model64.set_weights([w.astype("float64") for w in model.get_weights()])
        y64 = keras.ops.convert_to_numpy(
            model64(x.astype("float64"), training=False))
    assert y64.dtype == np.float64, y64.dtype
    return float(np.abs(y32 - y64).max()), float(np.abs(y64).max())


def main(names):
    backend = keras.backend.backend()
    measured = {}
    if os.path.exists(ref.FIXTURE):
        with open(ref.FIXTURE) as f:
            measured = json.load(f)
    for name in names:
        error, scale = measure(name)
        measured.setdefault(backend, {})[name] = error
        print(f"{backend} {name}: float32 error {error:.3g} on logits up to "
              f"{scale:.3g}", flush=True)
        with open(ref.FIXTURE, "w") as f:
            json.dump(measured, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    from keras_mobilenets import registry

    main(sys.argv[1:] or sorted(registry.swept()))
