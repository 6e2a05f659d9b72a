"""MobileNetV4's checkpoint table: equal to timm's `pretrained_cfg`s (fixture
tests/fixtures/v4/checkpoints.json, fixture_scripts/make_v4_fixtures.py), its
ImageNet-12k heads (11821 classes) built and loaded by tag and decoded, and
the checkpoint table of docs/checkpoints.md rendered from it."""

import json
import os

import keras
import numpy as np
import pytest
from safetensors.numpy import save

import keras_mobilenets as km
from conftest import ROOT, model_outputs
from keras_mobilenets import mobilenet_v4, registry, renderers
from v4_reference import load_fixture, reference_weights

with open(os.path.join(ROOT, "tests", "fixtures", "v4", "checkpoints.json")) as f:
    TIMM = json.load(f)
OURS = {f"{c.model}.{c.tag}": c for e in registry.swept().values()
        if e.timm_name for c in e.checkpoints}
IN12K = "mobilenetv4_conv_medium.e180_r384_in12k"


def test_every_timm_checkpoint_is_registered():
    assert set(OURS) == set(TIMM["pretrained_cfgs"])


@pytest.mark.parametrize("name", sorted(TIMM["pretrained_cfgs"]))
def test_checkpoint_is_timms_pretrained_cfg(name):
    cfg, ours = TIMM["pretrained_cfgs"][name], OURS[name]
    assert ours.num_classes == cfg["num_classes"]
    assert [3, ours.input_size, ours.input_size] == cfg["input_size"]
    assert ours.crop_pct == cfg["crop_pct"]
    test_size = cfg["test_input_size"]
    assert ours.test_input_size == (test_size and test_size[1])
    assert ours.test_crop_pct == cfg["test_crop_pct"]
    assert list(ours.mean) == cfg["mean"] and list(ours.std) == cfg["std"]
    assert (ours.interpolation, ours.crop_mode) == (cfg["interpolation"],
                                                    cfg["crop_mode"])
    data = km.data_config(registry.timm_names()[ours.model][0].builder,
                          ours.tag)
    assert data["num_classes"] == cfg["num_classes"]


def test_docs_checkpoint_table_is_rendered_from_the_registry():
    page = open(os.path.join(ROOT, "docs", "checkpoints.md")).read()
    table = renderers.timm_checkpoint_table(registry.ENTRIES.values())
    assert table in page
    every = [c for e in registry.swept().values() if e.timm_names()
             for c in e.checkpoints]  # V1 to V4
    assert len(every) == len(OURS) + 23
    # a header, a rule, a row each, and Gemma 3n's once (V5)
    assert table.count("\n") == len(every) + 2
    assert table.count("`gemma3n`") == 1


def test_every_imagenet_1k_checkpoint_has_timms_top1():
    """V1 to V4: a top-1 at the training size, and at the test size where
    the checkpoint has one; none for heads of other classes (in12k, in21k)."""
    every = [c for e in registry.ENTRIES.values() if e.timm_names()
             for c in e.checkpoints]
    for c in every:
        in1k = c.num_classes == 1000
        assert (c.top1 is not None) == in1k, (c.model, c.tag)
        assert (c.test_top1 is not None) == (in1k and bool(c.test_input_size))
    assert next(c for c in every if c.model == "mobilenetv2_120d").top1 == 77.3
    assert [c.num_classes for c in every if c.top1 is None].count(11221) == 1


@pytest.mark.parametrize("name", sorted(OURS))
def test_docstring_lists_the_checkpoint(name):
    ckpt = OURS[name]
    builder = registry.timm_names()[ckpt.model][0].builder
    line = next(l for l in builder.__doc__.splitlines()
                if l.startswith(f"- {ckpt.tag!r}"))
    size = f"{ckpt.input_size}x{ckpt.input_size}"
    result = f"{ckpt.top1}%" if ckpt.top1 is not None else "11821 classes"
    assert f"{ckpt.alpha}, {size}, {result}." in line
    assert ("`weights='imagenet'`" in line) == ckpt.default


def test_in12k_tag_builds_and_loads_the_11821_class_top(keras_home, fake_hub):
    fx = load_fixture("mobilenetv4_conv_medium")
    heads = TIMM["classifier_shapes"][IN12K]
    spec = [(n, heads.get(n, s), d) for n, s, d in zip(
        fx["spec"]["names"], fx["spec"]["shapes"], fx["spec"]["dtypes"])]
    state = reference_weights(spec, fx["seed"])
    ckpt = OURS[IN12K]
    fake_hub.add(ckpt.hf_hub_id, {"model.safetensors": save(state)})
    with pytest.warns(UserWarning, match="no ImageNet weights .* 64x64"):
        model = km.MobileNetV4ConvMedium(weights=ckpt.tag,
                                         input_shape=(64, 64, 3))
    assert model.output.shape == (None, 11821)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.get_layer("classifier").kernel),
        state["classifier.weight"].T)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3))
    preds = model_outputs(model, x.astype("float32"))
    decoded = mobilenet_v4.decode_predictions(preds, top=3)
    best = int(np.argmax(preds[0]))
    assert decoded[0][0][:2] == km.imagenet.class_index_12k()[best]


def test_in12k_tag_with_other_classes_is_refused_before_download():
    with pytest.raises(ValueError, match=r"weights='e250_r384_in12k' has a "
                       r"top of 11821 classes.*Received: classes=1001"):
        km.MobileNetV4ConvMedium(weights="e250_r384_in12k", classes=1001)
    with pytest.raises(ValueError, match=r"1000 classes.*Received: classes=11821"):
        km.MobileNetV4ConvMedium(weights="e500_r224_in1k", classes=11821)
