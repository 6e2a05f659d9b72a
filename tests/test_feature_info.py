"""The record of the trunk the builder writes block by block
(`Model.feature_info`): strides, layers and channels as the built graph
shows them, one model per generation; kept by `.keras` files; rebuilt by
the legacy path for keras.applications' own models."""

import math

import keras
import pytest

import keras_mobilenets as km
from keras_mobilenets import blocks, feature_info, features, registry

SIZE = 64
FAMILIES = ("MobileNet", "MobileNetV2", "MobileNetV3Small",
            "MobileNetV4ConvSmall")


@pytest.fixture(scope="module")
def models():
    """{name: small model without its top at SIZE x SIZE}."""
    out = {}
    for name in FAMILIES:
        entry = registry.ENTRIES[name]
        out[name] = entry.builder(weights=None, include_top=False,
                                  input_shape=(SIZE, SIZE, 3),
                                  **entry.test_config)
    return out


def _spatial(tensor):
    axes = (2, 3) if blocks.channel_axis() == 1 else (1, 2)
    return tuple(tensor.shape[a] for a in axes)


@pytest.mark.parametrize("name", FAMILIES)
def test_record_matches_the_built_graph(models, name):
    model, arch = models[name], registry.ENTRIES[name].arch
    records = model.feature_info
    assert all(isinstance(r, feature_info.Block) for r in records)
    # The stem, every row, the last conv: one record each, in order.
    rows = sum(len(stage) for stage in arch.stages)
    assert len(records) == 1 + rows + (arch.last_conv is not None)
    assert [r.stride for r in records] == sorted(r.stride for r in records)
    assert records[-1].stride == 32
    before = None
    for r in records:
        out = model.get_layer(r.output).output
        size = math.ceil(SIZE / r.stride)
        assert _spatial(out) == (size, size), r
        assert blocks.channels(out) == r.channels, r
        if r.expansion is not None:  # at the block's input resolution, wider
            expanded = model.get_layer(r.expansion).output
            size = math.ceil(SIZE / before.stride)
            assert _spatial(expanded) == (size, size), r
            assert blocks.channels(expanded) >= before.channels, r
        before = r
    assert model.taps == feature_info.taps(records)
    assert model.output is model.get_layer(records[-1].output).output
    has_expansion = [r.expansion is not None for r in records[1:rows + 1]]
    if name == "MobileNet":  # depthwise separable blocks only
        assert not any(has_expansion)
    elif name == "MobileNetV2":  # all but the first block (ratio 1)
        assert has_expansion == [False] + [True] * (rows - 1)
    elif name == "MobileNetV4ConvSmall":  # conv rows (stages 0, 1, 4): none
        assert has_expansion == [False] * 4 + [True] * (rows - 5) + [False]


def test_record_survives_a_keras_file(models, tmp_path):
    model = models["MobileNetV2"]
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is km.Model
    assert loaded.feature_info == model.feature_info
    assert loaded.taps == model.taps
    assert feature_info.c4(loaded.feature_info) == "block_13_expand_relu"


def test_legacy_path_serves_a_keras_applications_model(models):
    """keras.applications' V2 (names as ours, another alpha): the record of
    the variant its layer names show, with its own channels."""
    ours = models["MobileNetV2"]
    ref = keras.applications.MobileNetV2(alpha=0.5, weights=None,
                                         include_top=False,
                                         input_shape=(SIZE, SIZE, 3))
    records = features.feature_info(ref)
    assert [(r.stride, r.output, r.expansion) for r in records] == [
        (r.stride, r.output, r.expansion) for r in ours.feature_info]
    assert [r.channels for r in records] == [
        blocks.channels(ref.get_layer(r.output).output) for r in records]
    assert records[-4].channels != ours.feature_info[-4].channels
    assert feature_info.c4(records) == "block_13_expand_relu"
    assert features.feature_layers(ref) == ours.taps


def test_a_bad_record_is_a_clear_error(models):
    model = models["MobileNet"]
    for bad in ([{"stride": 0, "output": "conv1_relu", "channels": 8}],
                [{"stride": 2, "output": "conv1_relu"}], "conv1_relu", []):
        with pytest.raises(ValueError, match="Received"):
            km.Model(model.inputs, model.outputs, feature_info=bad)
