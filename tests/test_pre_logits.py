"""`include_pre_logits=True` (MobileNetV4): the pretrained top without its
classifier, (samples, 1280), equal to timm's
`forward_head(forward_features(x), pre_logits=True)` with the same weights
(tests/fixtures/v4_pre_logits.npz, from fixture_scripts/
make_pre_logits_fixture.py), loaded through every timm path: a local
safetensors file, and the hub with its cached conversion."""

import os

import numpy as np
import pytest
from safetensors.numpy import save, save_file

from conftest import model_outputs
from keras_mobilenets import registry
from v4_reference import load_fixture, reference_input, reference_weights

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "fixtures", "v4_pre_logits.npz")
ATOL = 1e-4  # as the V4 logits parity (tests/test_mobilenet_v4.py)
SMALLEST = "mobilenetv4_conv_small_050"
MODELS = ["mobilenetv4_conv_small_050", "mobilenetv4_hybrid_medium"]


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURE) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{timm name: (path of its timm safetensors file, seed)}: the weights
    the fixture was made with."""
    folder = tmp_path_factory.mktemp("pre_logits")
    out = {}
    for name in MODELS:
        fx = load_fixture(name)
        path = str(folder / f"{name}.safetensors")
        save_file(reference_weights(fx["spec"], fx["seed"]), path)
        out[name] = path, fx["seed"]
    return out


def _build(name, **kw):
    entry, alpha = registry.timm_names()[name]
    kw = dict(dict(include_top=False, include_pre_logits=True,
                   include_preprocessing=False), **kw)
    return entry.builder(alpha=alpha, **kw)


@pytest.mark.parametrize("name", MODELS)
def test_pre_logits_equal_timms(name, expected, checkpoints):
    path, seed = checkpoints[name]
    shape = tuple(int(s) for s in expected[f"{name}_input_shape"])
    assert int(expected["seed"]) == seed
    model = _build(name, weights=path, input_shape=shape[1:])
    assert model.output.shape == (None, 1280)
    names = {layer.name for layer in model.layers}
    assert {"conv_head", "norm_head", "norm_head_act"} <= names
    assert "classifier" not in names
    got = model_outputs(model, reference_input(shape, seed))
    diff = np.abs(got - expected[name]).max()
    print(f"{name}: max abs difference to timm's pre-logits {diff:.2e}")
    assert diff <= ATOL


def test_pooling_avg_is_the_same_model_and_max_is_refused(checkpoints):
    path, _ = checkpoints[SMALLEST]
    plain = _build(SMALLEST, weights=path)
    avg = _build(SMALLEST, weights=path, pooling="avg")
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(model_outputs(avg, x),
                                  model_outputs(plain, x))
    with pytest.raises(ValueError, match=r"must be None or 'avg'\. Received: "
                       r"include_top=False, include_pre_logits=True, "
                       r"pooling='max'"):
        _build(SMALLEST, weights=None, pooling="max")


def test_pre_logits_need_include_top_false():
    with pytest.raises(ValueError, match=r"pass it with `include_top=False`"
                       r"\. Received: include_top=True, include_pre_logits"):
        _build(SMALLEST, weights=None, include_top=True)
    with pytest.raises(TypeError, match="Received: include_pre_logits=1"):
        _build(SMALLEST, weights=None, include_pre_logits=1)


def test_default_is_the_960_channel_map_without_head_layers():
    model = _build(SMALLEST, weights=None, include_pre_logits=False,
                   input_shape=(64, 64, 3))
    assert len(model.output.shape) == 4
    assert "conv_head" not in {layer.name for layer in model.layers}


def test_hub_checkpoint_loads_the_head_and_caches_its_own_conversion(
        fake_hub, keras_home, expected):
    """`weights="imagenet"` (timm's repository on the hub): the head is
    converted without the classifier, cached under its own name beside the
    no-top conversion, and the second load reads that cache."""
    entry, alpha = registry.timm_names()[SMALLEST]
    ckpt = next(c for c in entry.checkpoints if c.default and c.alpha == alpha)
    fx = load_fixture(SMALLEST)
    fake_hub.add(ckpt.hf_hub_id, {"model.safetensors": save(
        reference_weights(fx["spec"], fx["seed"]))})
    shape = tuple(int(s) for s in expected[f"{SMALLEST}_input_shape"])
    x = reference_input(shape, int(expected["seed"]))
    first = _build(SMALLEST, weights="imagenet")
    assert np.abs(model_outputs(first, x) - expected[SMALLEST]).max() <= ATOL
    models = keras_home / "models"
    cached = models / ckpt.converted_fname(False, ("classifier",))
    assert cached.is_file()
    no_top = _build(SMALLEST, weights="imagenet", include_pre_logits=False)
    assert len(no_top.output.shape) == 4
    assert (models / ckpt.converted_fname(
        False, ("conv_head", "norm_head", "classifier"))).is_file()
    assert len({p.name for p in models.iterdir()}) == 2
    fake_hub.stop()
    second = _build(SMALLEST, weights="imagenet")
    np.testing.assert_array_equal(model_outputs(second, x),
                                  model_outputs(first, x))
