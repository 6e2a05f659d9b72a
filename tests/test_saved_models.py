"""`.keras` files saved by the release before the registry redesign still load,
on every backend, and give the outputs that release computed
(fixtures: fixture_scripts/make_saved_models.py)."""

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


def test_our_models_are_keras_mobilenets_model_in_and_out_of_a_keras_file(tmp_path):
    """Every model is a `keras_mobilenets.Model` (a functional model whose
    PyTorch inference runs as a plan), and stays one through a `.keras`
    file and `fold_batch_norm`, with the same outputs."""
    model = km.MobileNetV3Small(weights=None, input_shape=(64, 64, 3), alpha=0.75)
    assert isinstance(model, km.Model) and isinstance(model, keras.Model)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is km.Model
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict_on_batch(x),
                               model.predict_on_batch(x), rtol=0, atol=1e-6)
    assert type(km.fold_batch_norm(model)) is km.Model
    if keras.backend.backend() != "torch":  # a plan is the PyTorch backend's
        assert "_km_torch_plan" not in model.__dict__
