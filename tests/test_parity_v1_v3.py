"""Parity with keras.applications: same weights in, same outputs out (1e-5)."""

import keras
import numpy as np
import pytest

import keras_mobilenets as km
from conftest import model_outputs, randomize

# (builder name, arguments): each generation, several alphas, with and without
# top, avg/max pooling, non-square and dynamic inputs, V3 options.
GRID = [
    ("MobileNet", dict(alpha=0.25, input_shape=(128, 128, 3))),
    ("MobileNet", dict(alpha=1.0, include_top=False, pooling="avg",
                       input_shape=(64, 80, 3))),
    ("MobileNet", dict(alpha=0.75, depth_multiplier=2, include_top=False,
                       pooling="max", input_shape=(96, 96, 3))),
    ("MobileNet", dict(alpha=0.5, include_top=False, input_shape=(None, None, 3))),
    ("MobileNetV2", dict(alpha=0.35, input_shape=(96, 96, 3))),
    ("MobileNetV2", dict(alpha=1.0, include_top=False, pooling="avg",
                         input_shape=(64, 80, 3))),
    ("MobileNetV2", dict(alpha=1.4, include_top=False, pooling="max",
                         input_shape=(97, 97, 3))),
    ("MobileNetV2", dict(alpha=0.5, include_top=False, input_shape=(None, None, 3))),
    ("MobileNetV3Small", dict(alpha=0.75, input_shape=(224, 224, 3))),
    ("MobileNetV3Small", dict(minimalistic=True, input_shape=(64, 80, 3))),
    ("MobileNetV3Small", dict(include_top=False, pooling="avg",
                              include_preprocessing=False)),
    ("MobileNetV3Large", dict(input_shape=(224, 224, 3), dropout_rate=0.0)),
    ("MobileNetV3Large", dict(alpha=0.75, minimalistic=True, include_top=False,
                              pooling="max", input_shape=(81, 65, 3))),
    ("MobileNetV3Large", dict(include_top=False, include_preprocessing=False)),
]
# Layers people tap for features, by the names keras.applications gives them.
FEATURE_LAYERS = {
    "MobileNet": ["conv_pw_5_relu", "conv_pw_11_relu", "conv_pw_13_relu"],
    "MobileNetV2": ["block_3_expand_relu", "block_6_expand_relu",
                    "block_13_expand_relu", "out_relu"],
    "MobileNetV3Small": ["expanded_conv_2_add", "expanded_conv_7_project_bn"],
    "MobileNetV3Large": ["expanded_conv_5_add", "expanded_conv_14_add"],
}


# Relative to the output's scale. The faster depthwise kernels (JAX, PyTorch
# on CPU) add in another order than Keras' own, so whole networks agree to
# float32 rounding, not bit for bit: up to 2.8e-5 of the scale measured on
# JAX (V3-Large on raw [0, 255] inputs, activations in the thousands); each
# layer alone agrees within 1e-5 (tests/test_fast_layers.py). A wrong
# weight, padding or layer order is off by far more.
TOLERANCE = 1e-4


def _ids(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _input(kw, seed):
    shape = kw.get("input_shape") or (224, 224, 3)
    shape = tuple(d or s for d, s in zip(shape, (65, 81, 3)))
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, (2,) + shape).astype("float32")


@pytest.mark.parametrize("case", GRID, ids=[_ids(c) for c in GRID])
def test_outputs_match_keras_applications(case, tmp_path):
    name, kw = case
    if kw.get("include_top", True):
        kw = dict(kw, classifier_activation=None)  # compare logits
    reference = getattr(keras.applications, name)(weights=None, **kw)
    randomize(reference, seed=len(reference.weights))
    path = str(tmp_path / "reference.weights.h5")
    reference.save_weights(path)
    ours = getattr(km, name)(weights=path, **kw)  # the real loading path

    assert ours.count_params() == reference.count_params()
    assert ours.output.shape == reference.output.shape
    x = _input(kw, seed=1)  # dynamic dimensions get odd sizes
    expected = model_outputs(reference, x)
    assert np.abs(expected).max() > 1e-2  # a real signal, not all zeros
    np.testing.assert_allclose(model_outputs(ours, x), expected, rtol=0,
                               atol=TOLERANCE * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("name", sorted(FEATURE_LAYERS))
def test_named_layers_match_keras_applications(name, tmp_path):
    """Every layer keras.applications names explicitly exists in ours with the
    same output shape, and tapped features are equal."""
    reference = getattr(keras.applications, name)(weights=None, alpha=0.75,
                                                  include_top=False,
                                                  input_shape=(96, 96, 3))
    randomize(reference, seed=3)
    path = str(tmp_path / "reference.weights.h5")
    reference.save_weights(path)
    ours = getattr(km, name)(weights=path, alpha=0.75, include_top=False,
                             input_shape=(96, 96, 3))
    ours_by_name = {layer.name: layer for layer in ours.layers}
    explicit = [layer for layer in reference.layers
                if layer.weights or isinstance(layer, (
                    keras.layers.ZeroPadding2D, keras.layers.Add,
                    keras.layers.Multiply))]
    assert len(explicit) > 20
    for layer in explicit:
        assert layer.name in ours_by_name, layer.name
        assert ours_by_name[layer.name].output.shape == layer.output.shape
    taps = FEATURE_LAYERS[name]
    ref_features = keras.Model(reference.input,
                               [reference.get_layer(n).output for n in taps])
    our_features = keras.Model(ours.input, [ours.get_layer(n).output for n in taps])
    x = _input({"input_shape": (96, 96, 3)}, seed=2)
    for expected, got in zip(model_outputs(ref_features, x),
                             model_outputs(our_features, x)):
        np.testing.assert_allclose(
            got, expected, rtol=0,
            atol=TOLERANCE * max(1.0, np.abs(expected).max()))
