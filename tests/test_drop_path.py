"""`drop_path_rate`: stochastic depth on residual branches with timm's per-block
schedule (fixture: fixture_scripts/make_drop_path_fixture.py, timm's own rates),
the identity at inference, whole branches dropped per sample in training, and
kept in the model's config."""

import json
import os

import keras
import numpy as np
import pytest

import keras_mobilenets as km
from conftest import model_outputs, randomize
from keras_mobilenets import blocks, registry

FIXTURE = json.load(open(os.path.join(os.path.dirname(__file__), "fixtures",
                                      "drop_path.json")))
RATE = FIXTURE["drop_path_rate"]
V4 = sorted(FIXTURE["models"])
# Widths do not change the schedule: one backend checks every variant.
SWEPT = V4 if keras.backend.backend() == "tensorflow" else [
    "mobilenetv4_conv_small"]


def _drop_layers(model):
    return {layer.name: layer for layer in model.layers
            if layer.name.endswith("_drop_path")}


@pytest.mark.parametrize("timm_name", SWEPT)
def test_rates_are_timms_on_every_residual_branch(timm_name):
    entry, _ = registry.timm_names()[timm_name]
    model = entry.builder(weights=None, drop_path_rate=RATE, alpha=0.25,
                          input_shape=(64, 64, 3))
    ours = _drop_layers(model)
    names = {layer.name for layer in model.layers}
    timm = {m.replace(".", "_"): p for m, p in
            FIXTURE["models"][timm_name].items()}
    assert ours, timm_name
    for name, layer in ours.items():
        assert layer.rate == pytest.approx(timm[name], abs=1e-12), name
        assert isinstance(layer, keras.layers.Dropout)
    # timm builds a DropPath for every block but applies it only where the
    # block has a skip: exactly the blocks where we add one.
    for name in timm.keys() - ours.keys():
        assert name.replace("drop_path", "add") not in names, name


def test_inference_is_unchanged_and_zero_adds_no_layer():
    kw = dict(weights=None, alpha=0.5, input_shape=(64, 64, 3))
    plain = randomize(km.MobileNetV4HybridMedium(**kw), seed=1)
    dropping = km.MobileNetV4HybridMedium(drop_path_rate=0.5, **kw)
    assert not _drop_layers(plain) and len(_drop_layers(dropping)) > 10
    for layer in plain.layers:
        if layer.weights:
            dropping.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(model_outputs(dropping, x),
                                  model_outputs(plain, x))
    v2 = km.MobileNetV2(weights=None, alpha=0.35, drop_path_rate=0.1)
    assert _drop_layers(v2) and all(n.startswith("block_")
                                    for n in _drop_layers(v2))


def _uib(drop_rate):
    x = inputs = keras.Input((8, 8, 16))
    y = blocks.universal_inverted_bottleneck(
        x, 16, 3, 3, 1, 2.0, "relu", None, "uib", blocks.STYLE,
        drop_rate=drop_rate)
    return keras.Model(inputs, y)


def test_training_drops_whole_branches_at_the_rate():
    """One UIB with a skip, in training: per sample, the output is the
    input (branch dropped) or input + branch / (1 - rate), where branch is
    what the same block without drop path computes on the same batch."""
    rate, batch = 0.3, 2000
    dropping, plain = _uib(rate), _uib(0.0)
    randomize(plain, seed=2)
    for layer in plain.layers:
        if layer.weights:
            dropping.get_layer(layer.name).set_weights(layer.get_weights())
    data = np.random.default_rng(0).normal(size=(batch, 8, 8, 16)).astype(
        "float32")
    branch = keras.ops.convert_to_numpy(plain(data, training=True)) - data
    delta = keras.ops.convert_to_numpy(dropping(data, training=True)) - data
    dropped = np.all(delta == 0, axis=(1, 2, 3))
    assert abs(dropped.mean() - rate) < 0.04, dropped.mean()
    scale = np.abs(branch).max()
    np.testing.assert_allclose(delta[~dropped], branch[~dropped] / (1 - rate),
                               rtol=0, atol=1e-5 * scale)
    assert np.abs(branch[dropped]).max() > 0.1 * scale  # a real branch


def test_config_keeps_the_rates(tmp_path):
    model = km.MobileNetV4ConvSmall(weights=None, alpha=0.5, drop_path_rate=0.2,
                                    input_shape=(64, 64, 3))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert {n: l.rate for n, l in _drop_layers(loaded).items()} == {
        n: l.rate for n, l in _drop_layers(model).items()}


@pytest.mark.parametrize("value, error", [(1.0, ValueError), (-0.1, ValueError),
                                          ("0.1", TypeError)])
def test_bad_rates_say_what_was_received(value, error):
    with pytest.raises(error, match="drop_path_rate"):
        km.MobileNetV4ConvSmall(weights=None, drop_path_rate=value)
