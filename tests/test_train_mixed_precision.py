"""`train(..., mixed_precision=True)` forced on a CPU (the default, "auto",
turns it on on a GPU only): the model trains under mixed_float16 with loss
scaling, and its model.keras is float32, loading and predicting as the
trained model does."""

import keras
import numpy as np
import pytest
from PIL import Image

import keras_mobilenets as km
from keras_mobilenets import training
from test_train import CLASSES, TINY, make_folder


# train's part (the policy set and restored, loss scaling, a float32
# model.keras) is backend-free; Keras computes float16 on every backend.
# One backend runs it: PyTorch, where it is cheapest.
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="backend-free code, run under PyTorch (the cheapest here)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    data = make_folder(root / "data")
    # MobileNet 0.25 from initial weights: two models built, not the
    # shipped weights' four.
    model, history = km.train(str(data), output=str(root / "out"),
                              model="MobileNet", alpha=0.25, weights="none",
                              epochs=1, mixed_precision=True, **TINY)
    return data, root / "out", model, history


def _weighted(model):
    backbone = training._backbone(model)
    return [layer for layer in backbone.layers if layer.weights]


def _features(model, x):
    backbone = training._backbone(model)
    scaled = model.get_layer("scale")(x)
    return keras.ops.convert_to_numpy(backbone.predict(scaled, verbose=0))


def test_the_model_trained_in_mixed_float16(run):
    _, _, model, history = run
    assert keras.config.dtype_policy().name == "float32"  # restored after
    layers = _weighted(model)
    convs = [layer for layer in layers if isinstance(
        layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]
    assert len(convs) > 20
    assert {layer.compute_dtype for layer in convs} == {"float16"}
    assert {v.dtype for layer in layers for v in layer.weights} == \
        {"float32"}  # the variables stay float32
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history.history["loss"]).all()


def test_model_file_is_float32_and_predicts_as_trained(run):
    data, out, model, _ = run
    loaded = keras.saving.load_model(out / "model.keras")
    assert isinstance(loaded, km.Model)
    assert [n for n, _ in loaded.class_names] == list(CLASSES)
    assert {layer.compute_dtype for layer in _weighted(loaded)} == \
        {"float32"}
    images = np.stack([np.asarray(Image.open(data / c / "0.png"), "float32")
                       for c in CLASSES])
    x = keras.ops.image.resize(images, (32, 32))
    got = keras.ops.convert_to_numpy(loaded.predict(x, verbose=0))
    assert got.dtype == np.float32 and np.isfinite(got).all()
    np.testing.assert_allclose(got.sum(-1), 1, atol=1e-5)
    # After one epoch from initial weights the probabilities are near
    # uniform: the backbone's features say more. The same weights in
    # float16 (a relative 2**-11 a rounding, over some 30 layers): within
    # 30 * 2**-11 (1.5%) of the largest feature.
    float32, float16 = _features(loaded, x), _features(model, x)
    assert float32.dtype == np.float32 and float16.dtype == np.float16
    scale = np.abs(float32).max()
    assert scale > 0
    assert np.abs(float32 - float16.astype("float32")).max() < \
        30 * 2.0**-11 * scale
