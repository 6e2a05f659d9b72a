"""`.keras` files saved by the release before the registry redesign still load,
on every backend, and give the outputs that release computed
(fixtures: weights/tools/make_saved_models.py)."""

import glob
import os

import keras
import numpy as np
import pytest

import keras_mobilenets as km  # noqa: F401  (registers the custom layers)
from conftest import model_outputs

SAVED = os.path.join(os.path.dirname(__file__), "fixtures", "saved")
NAMES = sorted(os.path.basename(p)[:-len(".keras")]
               for p in glob.glob(os.path.join(SAVED, "*.keras")))


def test_fixtures_present():
    assert len(NAMES) == 5, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_old_keras_file_loads_with_the_same_outputs(name):
    model = keras.saving.load_model(os.path.join(SAVED, f"{name}.keras"))
    data = np.load(os.path.join(SAVED, f"{name}.npz"))
    want = data["y"]
    got = model_outputs(model, data["x"])
    scale = float(np.max(np.abs(want)))
    # Faster kernels on JAX and PyTorch sum in another order than the
    # TensorFlow run that saved the fixtures: the parity tolerance.
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale)
    feats = km.feature_model(model)
    assert sorted(feats.output) == [f"stride_{s}" for s in (16, 2, 32, 4, 8)]
