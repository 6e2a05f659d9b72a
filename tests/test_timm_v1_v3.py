"""timm's MobileNet V1-V3 networks (`archs/timm_mobilenet_v*.py`) equal
timm in float64, loaded through the timm conversion by layer names.

Fixtures (tests/fixtures/timm_v1_v3/<timm architecture>.npz, from
fixture_scripts/make_timm_v1_v3_fixtures.py) hold timm 1.0.31's float64
logits at 96x128 (non-square) for weights that `v4_reference.reference_weights`
regenerates, with the BatchNorm statistics stored in the fixture, and timm's
own float32 error there. Our float32 model must be within twice that error
(plus 1e-6 of the largest logit: two float32 implementations may round
apart by a few ulps of the logits even where timm's own error is smaller),
and have timm's trainable parameter count (the build and the comparison:
tests/timm_v1_v3_reference.py, shared with the maintainer's table
fixture_scripts/timm_v1_v3_parity_table.py).

Every architecture is swept on PyTorch only; one per family (V1, V2, V3) runs on
the other backends.
"""

import json
import os

import keras
import numpy as np
import pytest

import keras_mobilenets as km
from conftest import model_outputs
from keras_mobilenets import registry, renderers
from keras_mobilenets.weights import timm as timm_weights
from timm_v1_v3_reference import (ARCHS, FIXTURES, RELATIVE_FLOOR,
                                  load_fixture, parity)
from v4_reference import reference_input

SWEPT_ON = "torch"  # the fastest to build and run these here
PER_FAMILY = ("mobilenetv1_100h", "mobilenetv2_050", "mobilenetv3_small_050")
# {timm architecture: (registry entry, alpha)} of timm's V1-V3 networks.
TIMM_V1_V3 = {n: (e, a) for n, (e, a)
              in registry.timm_names(registry.swept().values()).items()
              if e.timm_architectures}


def _skip_unless_swept(arch):
    if keras.backend.backend() != SWEPT_ON and arch not in PER_FAMILY:
        pytest.skip(f"swept on {SWEPT_ON}; one per family here")


def test_every_checkpoint_architecture_has_a_fixture():
    with open(os.path.join(FIXTURES, "checkpoints.json")) as f:
        cfgs = json.load(f)["pretrained_cfgs"]
    archs = {name.split(".")[0] for name in cfgs}
    assert len(cfgs) == 23 and len(archs) == 20
    assert archs == set(ARCHS)
    ours = {f"{c.model}.{c.tag}" for entry, _ in TIMM_V1_V3.values()
            for c in entry.checkpoints}
    assert ours == set(cfgs)
    assert archs <= set(TIMM_V1_V3)


def test_checkpoints_are_timms_pretrained_cfgs():
    """Every `weights=` tag of these builders carries timm's own
    `pretrained_cfg` (fixture checkpoints.json), and `weights="imagenet"`
    names timm's default tag of each architecture."""
    with open(os.path.join(FIXTURES, "checkpoints.json")) as f:
        data = json.load(f)
    entries = {e.name: e for e, _ in TIMM_V1_V3.values()}
    for entry in entries.values():
        for c in entry.checkpoints:
            cfg = data["pretrained_cfgs"][f"{c.model}.{c.tag}"]
            test_size = cfg["test_input_size"]
            assert (c.num_classes, c.input_size, c.crop_pct, c.test_input_size,
                    c.test_crop_pct, c.interpolation, c.crop_mode) == (
                cfg["num_classes"], cfg["input_size"][1], cfg["crop_pct"],
                test_size and test_size[1], cfg["test_crop_pct"],
                cfg["interpolation"], cfg["crop_mode"]), (c.model, c.tag)
            np.testing.assert_allclose(c.mean, cfg["mean"])
            np.testing.assert_allclose(c.std, cfg["std"])
            assert c.default == (data["default_tags"][c.model] == c.tag), (
                c.model, c.tag)


@pytest.mark.parametrize("arch", ARCHS)
def test_equals_timm_in_float64(arch, tmp_path):
    _skip_unless_swept(arch)
    got = parity(arch, str(tmp_path))
    print(f"{arch} {keras.backend.backend()}: worst {got.worst:.3g}, "
          f"bar {got.bar:.3g}")
    assert got.trainable == got.timm_trainable
    assert got.worst <= got.bar, (arch, got.worst, got.bar)
    # Not a constant model: the two images' logits differ clearly.
    assert got.spread > 100 * got.bar
    assert got.passed


@pytest.mark.parametrize("arch, keras_builder, options", [
    ("tf_mobilenetv3_small_100", "MobileNetV3Small", {}),
    ("tf_mobilenetv3_large_minimal_100", "MobileNetV3Large",
     {"minimalistic": True}),
])
def test_tf_ports_are_keras_applications_v3(arch, keras_builder, options):
    """timm's `tf_` ports are keras.applications' V3 networks: the same
    tensors, matched by layer order (timm's Linear classifier is Keras'
    1x1 `logits` conv), give the same logits. They differ in names and
    the classifier's layer type only."""
    _skip_unless_swept(arch)
    fx, weights = load_fixture(arch)
    shape = tuple(int(s) for s in fx["input_shape"])
    entry, alpha = TIMM_V1_V3[arch]
    common = dict(weights=None, input_shape=shape[1:],
                  classifier_activation=None, include_preprocessing=False)
    ours = entry.builder(alpha=alpha, **common)
    converted = timm_weights.convert_state_dict(ours, weights)
    keras_v3 = getattr(km, keras_builder)(alpha=alpha, dropout_rate=0.0,
                                          **options, **common)
    keras_layers = [l for l in keras_v3.layers if l.weights]
    timm_layers = [l for l in ours.layers if l.weights]
    assert len(keras_layers) == len(timm_layers) == len(converted)
    for theirs, mine in zip(keras_layers, timm_layers):
        assert type(theirs).__name__ == type(mine).__name__ or (
            mine.name == "classifier"), (theirs.name, mine.name)
        theirs.set_weights([np.reshape(a, v.shape) for a, v in
                            zip(converted[mine.name], theirs.weights)])
    x = reference_input(shape, int(fx["seed"]))
    got = np.asarray(model_outputs(keras_v3, x), np.float64)
    bar = 2 * float(fx["float32_error"]) + RELATIVE_FLOOR * np.abs(
        fx["logits64"]).max()
    assert np.abs(got - fx["logits64"]).max() <= bar


def test_readme_table_is_rendered_from_the_registry():
    """README.md's table of these builders is `renderers.timm_v1_v3_model_table`, its
    best top-1 column the checkpoint table's figures (docs/checkpoints.md)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    table = renderers.timm_v1_v3_model_table(registry.ENTRIES.values())
    assert table in open(os.path.join(root, "README.md")).read()
    assert table.count("\n") == 13 + 1  # a header, a rule, a row each
    entries = {e.name: e for e, _ in TIMM_V1_V3.values()}
    assert renderers.best_top1(entries["TimmMobileNetV3LargeD150"]) == (
        81.832, "mobilenetv3_large_150d", "ra4_e3600_r256_in1k", 320)
    assert renderers.best_top1(entries["TimmMobileNetV2"])[:3] == (
        76.528, "mobilenetv2_140", "ra_in1k")
    assert "| 77.92 (`mobilenetv3_large_100.miil_in21k_ft_in1k` at 224) |" \
        in table


# Docstrings are graph facts: one backend checks every builder.
DOCUMENTED = sorted({e.name for e, _ in TIMM_V1_V3.values()}) \
    if keras.backend.backend() == SWEPT_ON else \
    ["TimmMobileNetV1", "TimmMobileNetV2", "TimmMobileNetV3Small"]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_docstring_says_what_the_pre_logits_are(name):
    """`include_pre_logits`' text names the built model's output width at
    the default alpha, and the `d` builders' alpha its default and the
    parameters there (`keras-mobilenets list`'s figure)."""
    entry = registry.get(name)
    model = entry.builder(weights=None, include_top=False,
                          include_pre_logits=True, input_shape=(32, 32, 3))
    width = model.output.shape[-1]
    doc = " ".join(entry.builder.__doc__.split())
    pre_logits = doc.split("include_pre_logits: ")[1].split(" output_stride:")[0]
    assert f"a (samples, {width}) output" in pre_logits, (name, pre_logits)
    layers = {l.name for l in model.layers}
    assert ("`conv_head`" in pre_logits) == ("conv_head" in layers), name
    alpha = entry.defaults.get("alpha")
    if alpha is not None:
        assert f"Defaults to {alpha}, timm's `" in doc, name
        assert f"({entry.params:,} trainable parameters with the top)" in doc
