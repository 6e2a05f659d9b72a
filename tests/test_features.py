"""`feature_model`: the feature dict of every variant (keys, strides, channels,
values against keras.applications and timm), recognition and errors."""

import math
import os
import re

import keras
import numpy as np
import pytest

import keras_mobilenets as km
from conftest import ROOT, model_outputs, randomize, swept
from keras_mobilenets import features, registry
from v4_reference import load_fixture, reference_input, reference_weights

KEYS = ["stride_2", "stride_4", "stride_8", "stride_16", "stride_32"]
SIZES = [(224, 224), (160, 192)]

# Channels at strides 2..32 at alpha 1, from the papers' architecture tables:
# V1 Table 1 (1704.04861), V2 Table 2 (1801.04381), V3 Tables 1 and 2
# (1905.02244; the 1x1 conv before pooling ends the backbone), V4 Tables
# (2404.10518) as timm's `feature_info` reports them (checked against the
# timm fixtures below).
PAPER_CHANNELS = {
    "MobileNet": [64, 128, 256, 512, 1024],
    "MobileNetV2": [16, 24, 32, 96, 1280],
    "MobileNetV3Small": [16, 16, 24, 48, 576],
    "MobileNetV3Large": [16, 24, 40, 112, 960],
    "MobileNetV4ConvSmall": [32, 32, 64, 96, 960],
    "MobileNetV4ConvMedium": [32, 48, 80, 160, 960],
    "MobileNetV4ConvLarge": [24, 48, 96, 192, 960],
    "MobileNetV4HybridMedium": [32, 48, 80, 160, 960],
    "MobileNetV4HybridLarge": [24, 48, 96, 192, 960],
    # timm's anti-aliased variants of Conv-Large and Conv-Medium.
    "MobileNetV4ConvAALarge": [24, 48, 96, 192, 960],
    "MobileNetV4ConvBlurMedium": [32, 48, 80, 160, 960],
    # timm's V1-V3 networks, at their builders' default alpha: timm's
    # `feature_info` channels, but at stride 32 the last layer before the
    # top (V1 100h and V2: the 1x1 `conv_head`), as for our other models.
    "TimmMobileNetV1": [64, 128, 256, 512, 1024],
    "TimmMobileNetV1H": [64, 128, 256, 512, 1024],
    "TimmMobileNetV2": [16, 24, 32, 96, 1280],
    "TimmMobileNetV2D110": [16, 24, 32, 104, 1280],
    "TimmMobileNetV2D120": [24, 32, 40, 112, 1280],
    "TimmMobileNetV3Large": [16, 24, 40, 112, 960],
    "TimmMobileNetV3LargeD150": [24, 40, 64, 168, 1440],
    "TimmMobileNetV3Small": [16, 16, 24, 48, 576],
    "TimmMobileNetV3RW": [16, 24, 40, 112, 960],
    "TfMobileNetV3Large": [16, 24, 40, 112, 960],
    "TfMobileNetV3LargeMinimal": [16, 24, 40, 112, 960],
    "TfMobileNetV3Small": [16, 16, 24, 48, 576],
    "TfMobileNetV3SmallMinimal": [16, 16, 24, 48, 576],
    # torchvision's (`features`' block outputs, its C1-C4 and last conv).
    "TorchvisionMobileNetV3Large": [16, 24, 40, 112, 960],
}
V4_ENTRIES = {e.name: e for e in registry.swept().values() if e.timm_name}


@pytest.fixture(scope="module")
def built():
    """{name: (small model with a dynamic input, its feature model)}, each
    variant built once for the module."""
    cache = {}

    def get(name):
        if name not in cache:
            entry = registry.ENTRIES[name]
            model = entry.builder(weights=None, include_top=False,
                                  input_shape=(None, None, 3),
                                  **entry.test_config)
            cache[name] = randomize(model), km.feature_model(model)
        return cache[name]

    return get


def _images(size, batch=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (batch, *size, 3)).astype("float32")


def test_every_registered_model_has_paper_channels():
    assert set(registry.swept()) == set(PAPER_CHANNELS)


@pytest.mark.parametrize("name", swept(registry.swept(), on="tensorflow"))
def test_keys_strides_and_values(built, name):
    model, feats = built(name)
    assert features.variant_of(model) == name
    # Stride 32 is the backbone's own output.
    layers = features.feature_layers(model)
    assert list(layers) == list(features.STRIDES)
    assert feats.get_layer(layers[32]) is model.layers[-1]
    for size in SIZES:  # shapes inferred, then one run
        out = feats(keras.KerasTensor((1, *size, 3)))
        assert sorted(out) == sorted(KEYS), name
        for stride in features.STRIDES:
            want = (1, math.ceil(size[0] / stride), math.ceil(size[1] / stride))
            assert tuple(out[features.key(stride)].shape[:3]) == want, (
                name, size, stride)
    x = _images(SIZES[-1])
    out = model_outputs(feats, x)
    for k in KEYS:
        assert out[k].shape == tuple(feats(keras.KerasTensor(x.shape))[k].shape)
        assert np.isfinite(out[k]).all() and out[k].std() > 0, (name, k)


# Widths are a property of the graph, the same on every backend: checked in
# the TensorFlow session only (full-width models are slow to build on JAX).
@pytest.mark.parametrize("name", list(registry.swept())
                         if keras.backend.backend() == "tensorflow" else [
                             "MobileNetV3Small"])
def test_channels_at_alpha_1_are_the_papers(name):
    model = registry.ENTRIES[name].builder(weights=None, include_top=False,
                                           input_shape=(None, None, 3))
    feats = km.feature_model(model)
    got = [feats.output[k].shape[-1] for k in KEYS]
    assert got == PAPER_CHANNELS[name], name


def test_alpha_scales_channels(built):
    # keras.applications' MobileNetV2(alpha=0.35): widths rounded to multiples
    # of 8 (never below 90%), the last 1280 unscaled for alpha <= 1.
    _, feats = built("MobileNetV2")
    assert [feats.output[k].shape[-1] for k in KEYS] == [8, 8, 16, 32, 1280]
    # timm's mobilenetv4_conv_small_050: the stem is not narrowed.
    _, feats = built("MobileNetV4ConvSmall")
    fx = load_fixture("mobilenetv4_conv_small_050")
    assert [feats.output[k].shape[-1] for k in KEYS] == [
        f["channels"] for f in fx["features"]]


def test_v4_maps_are_timms_feature_taps(built):
    """timm's `features_only` taps (stem bn1, blocks.0, .1, .2, .4) are the
    layers of the table: the stem's activation, else a stage's last block."""
    for title, entry in V4_ENTRIES.items():
        fx = load_fixture(entry.timm_name)
        taps = fx["features"]
        assert [f["stride"] for f in taps] == list(features.STRIDES)
        assert [f["channels"] for f in taps] == PAPER_CHANNELS[title], title
        stages = entry.arch.stages
        layers = features.feature_layers(built(title)[0])
        for module, layer in zip([f["module"] for f in taps], layers.values()):
            if module == "bn1":
                assert layer == "bn1_act", title
                continue
            stage = int(str(module).split(".")[1])
            assert layer.startswith(f"blocks_{stage}_{len(stages[stage]) - 1}_"), (
                title, module, layer)


def test_v4_values_equal_timms_features(tmp_path):
    """Against timm's own feature maps for the reference weights."""
    from safetensors.numpy import save_file

    name = "mobilenetv4_conv_small_050"
    fx = load_fixture(name)
    path = str(tmp_path / f"{name}.safetensors")
    save_file(reference_weights(fx["spec"], fx["seed"]), path)
    entry, alpha = registry.timm_names()[name]
    model = entry.builder(alpha=alpha, weights=path, include_top=False,
                    include_preprocessing=False, input_shape=(None, None, 3))
    x = reference_input(fx["input_shape_small"], fx["seed"])[:1]
    out = model_outputs(km.feature_model(model), x)
    for k, want in zip(KEYS, fx["features"]):
        got = out[k]
        if want["kind"] == "full":
            np.testing.assert_allclose(got, want["full"], rtol=0, atol=1e-4,
                                       err_msg=k)
        else:
            np.testing.assert_allclose(got.mean(axis=(0, 1, 2)), want["mean"],
                                       rtol=0, atol=1e-4, err_msg=k)
            np.testing.assert_allclose(got[:, :8, :8], want["corner"], rtol=0,
                                       atol=1e-4, err_msg=k)


@pytest.mark.parametrize("name, reference", [
    ("MobileNet", keras.applications.MobileNet),
    ("MobileNetV2", keras.applications.MobileNetV2),
])
def test_v1_v2_values_equal_keras_applications_layers(built, name, reference):
    """keras.applications' V1 and V2 share our layer names: same weights, the
    same layers there give the same maps (and its models are recognised)."""
    model, feats = built(name)
    ref = reference(weights=None, include_top=False, input_shape=(160, 192, 3),
                    **registry.ENTRIES[name].test_config)
    for layer in filter(lambda layer: layer.weights, ref.layers):
        layer.set_weights(model.get_layer(layer.name).get_weights())
    taps = keras.Model(ref.input, {
        features.key(s): ref.get_layer(n).output
        for s, n in features.feature_layers(model).items()})
    x = registry.ENTRIES[name].preprocess(_images((160, 192)))
    got, want = model_outputs(feats, x), model_outputs(taps, x)
    for k in KEYS:
        # Our faster kernels add in another order (see test_parity_v1_v3).
        np.testing.assert_allclose(got[k], want[k], rtol=0, err_msg=k,
                                   atol=1e-5 * max(1.0, np.abs(want[k]).max()))
    assert features.variant_of(ref) == name


def test_any_name_top_pooling_and_input_tensor(built):
    small = registry.ENTRIES["MobileNetV3Large"].test_config
    base, base_feats = built("MobileNetV3Large")
    for kwargs in [dict(name="my_backbone", input_shape=(160, 192, 3)),
                   dict(include_top=True, input_shape=(224, 224, 3)),
                   dict(include_top=False, pooling="avg"),
                   dict(include_top=False,
                        input_tensor=keras.Input((160, 192, 3)))]:
        model = km.MobileNetV3Large(weights=None, **small, **kwargs)
        assert features.variant_of(model) == "MobileNetV3Large", kwargs
        feats = km.feature_model(model)
        assert sorted(feats.output) == sorted(KEYS)
    # The feature model shares the model's variables: same objects.
    assert {id(v) for v in base_feats.weights} <= {id(v) for v in base.weights}
    assert km.feature_model(base, name="fpn_in").name == "fpn_in"


def test_top_does_not_change_the_maps(built):
    """A model with the classifier gives the maps of the one without."""
    base, base_feats = built("MobileNetV4HybridMedium")
    top = km.MobileNetV4HybridMedium(weights=None, include_top=True,
                                     input_shape=(160, 192, 3),
                                     **registry.ENTRIES["MobileNetV4HybridMedium"].test_config)
    for layer in filter(lambda layer: layer.weights, base.layers):
        top.get_layer(layer.name).set_weights(layer.get_weights())
    x = _images((160, 192))
    got, want = model_outputs(km.feature_model(top), x), model_outputs(base_feats, x)
    for k in KEYS:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-5, err_msg=k)


def test_keras_file_round_trip(built, tmp_path):
    """String keys survive a .keras save and load (int keys come back as
    strings, see `features.key`)."""
    _, feats = built("MobileNet")
    path = str(tmp_path / "features.keras")
    feats.save(path)
    loaded = keras.saving.load_model(path)
    x = _images((96, 128))
    got, want = model_outputs(loaded, x), model_outputs(feats, x)
    assert sorted(got) == sorted(KEYS)
    for k in KEYS:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-6, err_msg=k)


def test_models_we_did_not_build_are_rejected(built):
    inputs = keras.Input((64, 64, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(8, 3, name="conv")(inputs),
                        name="other")
    with pytest.raises(ValueError, match=r"Received: model='other'"):
        km.feature_model(other)
    # A truncated MobileNetV4HybridMedium is not mistaken for Conv-Medium,
    # whose stage 2 ends at the same layer name.
    base, _ = built("MobileNetV4HybridMedium")
    cut = keras.Model(base.input, base.get_layer("blocks_2_7_add").output,
                      name="cut")
    with pytest.raises(ValueError, match=r"Received: model='cut'"):
        km.feature_model(cut)
    wrapped = keras.Sequential([base, keras.layers.Dense(2)], name="wrapped")
    with pytest.raises(ValueError, match="pass that inner model"):
        km.feature_model(wrapped)
    with pytest.raises(TypeError, match="Received: model='MobileNet'"):
        km.feature_model("MobileNet")


def _tables(text):
    """{model: [(layer, channels) per stride]} from a markdown table whose
    rows read `| model | layer channels | ... |`."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in registry.swept():
            rows[cells[0]] = [tuple(re.split(r"`?\s+", c.replace("`", ""))[:2])
                              for c in cells[1:]]
    return rows


@pytest.mark.parametrize("where", ["docstring", "docs"])
def test_documented_tables_match_the_code_and_the_papers(built, where):
    if where == "docstring":
        text = km.feature_model.__doc__
    else:
        text = open(os.path.join(ROOT, "docs", "features-segmentation.md")).read()
    table = _tables(text)
    assert set(table) == set(registry.swept()), where
    for name, cells in table.items():
        layers = features.feature_layers(built(name)[0])
        assert [c[0] for c in cells] == list(layers.values()), name
        assert [int(c[1]) for c in cells] == PAPER_CHANNELS[name], name
