"""The real ImageNet weights (../shared/weights) through the real download path."""

import numpy as np
import pytest

import keras
import keras_mobilenets as km
from conftest import (ELEPHANT, V1_025_FILE, V2_035_NO_TOP_FILE, model_outputs,
                      shared_file)
from keras_mobilenets import imagenet, mobilenet


def _elephant(size=224):
    import os

    if not os.path.isfile(ELEPHANT):
        pytest.skip(f"test image {ELEPHANT} not found")
    return imagenet.load_image(ELEPHANT, (size, size))[None]


def test_v1_imagenet_from_cache_classifies_elephant(cache_with, monkeypatch):
    cache_with(V1_025_FILE)
    # The cached file must be used: any download attempt fails the test.
    monkeypatch.setattr(keras.utils, "get_file",
                        lambda *a, **k: pytest.fail("tried to download"))
    model = km.MobileNet(alpha=0.25, weights="imagenet")
    preds = model_outputs(model, mobilenet.preprocess_input(_elephant()))
    assert preds.shape == (1, 1000)
    assert int(preds.argmax()) == 386
    top = mobilenet.decode_predictions(preds, top=5)[0]
    assert top[0][:2] == ("n02504458", "African_elephant")
    assert top[0][2] > 0.5
    assert [t[2] for t in top] == sorted((t[2] for t in top), reverse=True)


def test_v1_real_weights_match_keras_applications():
    path = shared_file(V1_025_FILE)
    x = mobilenet.preprocess_input(_elephant())
    reference = keras.applications.MobileNet(alpha=0.25, weights=path)
    ours = km.MobileNet(alpha=0.25, weights=path)
    np.testing.assert_allclose(model_outputs(ours, x),
                               model_outputs(reference, x), rtol=0, atol=1e-5)


def test_v2_no_top_imagenet_loads(cache_with):
    cache_with(V2_035_NO_TOP_FILE)
    path = shared_file(V2_035_NO_TOP_FILE)
    model = km.MobileNetV2(alpha=0.35, include_top=False, weights="imagenet",
                           pooling="avg")
    reference = keras.applications.MobileNetV2(
        alpha=0.35, include_top=False, weights=path, pooling="avg")
    x = km.mobilenet_v2.preprocess_input(_elephant())
    got = model_outputs(model, x)
    assert got.shape == (1, 1280)
    np.testing.assert_allclose(got, model_outputs(reference, x), rtol=0, atol=1e-5)


def test_real_file_of_another_alpha_is_rejected_and_model_untouched():
    path = shared_file(V1_025_FILE)
    model = km.MobileNet(alpha=0.5, weights=None)
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]
    with pytest.raises(ValueError, match=r"shape mismatch: conv1: model \[\(3, 3, 3, 16\)\], file \[\(3, 3, 3, 8\)\]"):
        km.weights.load_weights(model, path)
    for v, old in zip(model.weights, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), old)


def test_real_file_of_another_model_is_rejected():
    path = shared_file(V2_035_NO_TOP_FILE)
    with pytest.raises(ValueError, match="does not fit model"):
        km.MobileNet(alpha=0.25, weights=path)
    with pytest.raises(ValueError, match="missing from the file: predictions"):
        km.MobileNetV2(alpha=0.35, weights=path)
