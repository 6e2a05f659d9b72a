"""`data_config` and `eval_transform`: timm's keys and timm's pixels, for every
default MobileNetV4 checkpoint (at its training and test sizes), for the
Keras V1-V3 recipe and for each distinct recipe of timm's V1-V3 checkpoints,
on several photos (fixtures: fixture_scripts/make_transform_fixtures.py, made
with timm's own transform)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import keras_mobilenets as km
from keras_mobilenets import builder as builder_lib, registry
from keras_mobilenets.data import EvalTransform
from transform_reference import photos, summary

FIXTURE = np.load(os.path.join(os.path.dirname(__file__), "fixtures",
                               "transforms.npz"))
CONFIGS = json.loads(str(FIXTURE["configs"]))
PHOTOS = photos()
KEYS = ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std")


def _ours(key):
    """(builder, weights, use_test_size) of a fixture key."""
    if key == "slim|0":
        return km.MobileNet, "imagenet", False
    name, test_size = key.split("|")
    arch, tag = name.split(".", 1)
    entry, _ = registry.timm_names()[arch]
    return entry.builder, tag, test_size == "1"


def test_every_default_v4_checkpoint_has_a_fixture():
    covered = {k.split("|")[0] for k in CONFIGS}
    swept = registry.timm_names(registry.swept().values())  # V1 to V4
    defaults = [(arch, c) for arch, (entry, alpha) in swept.items()
                if entry.timm_name  # V4
                for c in entry.checkpoints if c.default and c.alpha == alpha]
    assert len(defaults) == 8
    for arch, c in defaults:
        assert f"{arch}.{c.tag}" in covered, arch


def _assert_timms_keys(ours, want, key):
    for k in KEYS:
        got = list(ours[k]) if isinstance(ours[k], tuple) else ours[k]
        if k in ("mean", "std", "crop_pct"):
            np.testing.assert_allclose(got, want[k], rtol=0, atol=1e-9)
        else:
            assert got == want[k], (key, k)


@pytest.mark.parametrize("key", sorted(CONFIGS))
def test_data_config_is_timms(key):
    builder, weights, test_size = _ours(key)
    ours = km.data_config(builder, weights, use_test_size=test_size)
    want = CONFIGS[key]
    _assert_timms_keys(ours, want, key)
    assert ours["num_classes"] == 1000  # every default has an ImageNet-1k head


@pytest.mark.parametrize("key", sorted(CONFIGS))
@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_eval_transform_gives_timms_pixels(key, photo):
    builder, weights, test_size = _ours(key)
    got = km.eval_transform(builder, weights, use_test_size=test_size)(
        PHOTOS[photo])
    size = CONFIGS[key]["input_size"][1:]
    assert got.shape == (*size, 3) and got.dtype == np.float32
    for part, value in summary(got).items():
        want = FIXTURE[f"{key}|{photo}|{part}"]
        # Within one grey level (the bar); measured: identical.
        np.testing.assert_allclose(value, want, rtol=0, atol=1.0,
                                   err_msg=f"{key} {photo} {part}")


def test_arrays_paths_and_pil_images_give_the_same_pixels(tmp_path):
    transform = km.eval_transform("MobileNetV4ConvSmall")
    image = PHOTOS["chelsea"]
    path = str(tmp_path / "cat.png")
    image.save(path)
    want = transform(image)
    np.testing.assert_array_equal(transform(np.asarray(image)), want)
    np.testing.assert_array_equal(transform(path), want)
    np.testing.assert_array_equal(transform(image.convert("L")).shape, want.shape)


def test_errors_say_what_was_received():
    with pytest.raises(ValueError, match="Received: weights='nope'"):
        km.data_config("MobileNetV4ConvSmall", "nope")
    with pytest.raises(ValueError, match="Unknown model 'ResNet50'"):
        km.data_config("ResNet50")
    with pytest.raises(TypeError, match="Received: 3"):
        km.data_config(3)
    transform = km.eval_transform(km.MobileNetV2)
    with pytest.raises(ValueError, match="uint8"):
        transform(np.zeros((4, 4, 3), "float32"))
    with pytest.raises(TypeError, match="Received: list"):
        transform([[0, 0, 0]])


def _timm_key(builder):
    """The fixture key of a builder's default checkpoint at its training
    size."""
    entry = registry.get(builder.__name__)
    if not entry.timm_name:
        return "slim|0"
    ckpt = builder_lib.resolve(entry)[1].source
    return f"{ckpt.model}.{ckpt.tag}|0"


@pytest.mark.parametrize("builder", [km.MobileNetV4ConvSmall, km.MobileNet])
def test_load_image_is_the_checkpoints_eval_transform(builder, tmp_path):
    """`imagenet.load_image(path, model=...)` (the docs' and the
    notebooks' way to read a photo) gives the eval transform's pixels, which
    are timm's."""
    path = str(tmp_path / "cat.png")
    PHOTOS["chelsea"].save(path)
    got = km.imagenet.load_image(path, model=builder)
    np.testing.assert_array_equal(got, km.eval_transform(builder)(path))
    np.testing.assert_array_equal(
        km.imagenet.load_image(path, model=builder.__name__), got)
    key = _timm_key(builder)
    for part, value in summary(got).items():
        np.testing.assert_allclose(value, FIXTURE[f"{key}|chelsea|{part}"],
                                   rtol=0, atol=1.0)
    # At another size: the same recipe (crop, interpolation) at that size.
    config = dict(km.data_config(builder), input_size=(3, 96, 128))
    np.testing.assert_array_equal(
        km.imagenet.load_image(path, (96, 128), model=builder),
        EvalTransform(config)(path))


def test_load_image_without_a_model_resizes_the_whole_image(tmp_path):
    path = str(tmp_path / "cat.png")
    PHOTOS["chelsea"].save(path)
    want = np.asarray(PHOTOS["chelsea"].resize((128, 96), Image.BILINEAR),
                      dtype="float32")
    np.testing.assert_array_equal(km.imagenet.load_image(path, (96, 128)),
                                  want)
    with pytest.raises(ValueError, match=r"Received: size=None, model=None"):
        km.imagenet.load_image(path)
    with pytest.raises(ValueError, match=r"Received: size=224"):
        km.imagenet.load_image(path, 224)


# timm's V1-V3 checkpoints: one per distinct data config (training and test
# configs together), at both sizes where they differ.
V1_V3 = np.load(os.path.join(os.path.dirname(__file__), "fixtures",
                             "transforms_timm_v1_v3.npz"))
V1_V3_CONFIGS = json.loads(str(V1_V3["configs"]))


def _v1_v3(key):
    """(builder or model, weights, use_test_size, the checkpoint) of a V1-V3
    fixture key: the builder and the tag where that gives this checkpoint's
    config (a tag of several alphas names the default alpha's), else a
    model built at its alpha, which carries its default checkpoint's."""
    name, test_size = key.split("|")
    arch, tag = name.split(".", 1)
    entry, alpha = registry.timm_names()[arch]
    ckpt, = [c for c in entry.checkpoints if c.model == arch and c.tag == tag]
    if km.data_config(entry.builder, tag) == ckpt.data_config():
        return entry.builder, tag, test_size == "1", ckpt
    assert ckpt.default  # what a model built at its alpha carries
    model = entry.builder(alpha=alpha, weights=None, include_top=False,
                          input_shape=(32, 32, 3))
    assert model.data_config["weights"] == tag
    return model, "imagenet", test_size == "1", ckpt


def _recipe(checkpoint):
    """A checkpoint's data config at both sizes, as text."""
    config = checkpoint.data_config()
    return json.dumps({k: v for k, v in config.items()
                       if k not in ("weights", "num_classes")}, sort_keys=True)


def test_every_v1_v3_data_config_has_a_fixture():
    """Each distinct recipe of the 23 V1-V3 checkpoints (as the registry
    holds them) has a fixture key, and one checkpoint needs a model (its tag
    is the default alpha's too, with another crop)."""
    every = [c for e, _ in registry.timm_names(registry.swept().values()).values()
             if e.timm_architectures for c in e.checkpoints]
    assert len({(c.model, c.tag) for c in every}) == 23
    covered = {k.split("|")[0] for k in V1_V3_CONFIGS}
    recipes = {_recipe(c) for c in every}
    assert len(recipes) == 7
    assert recipes == {_recipe(c) for c in every
                       if f"{c.model}.{c.tag}" in covered}
    assert isinstance(_v1_v3("mobilenetv1_125.ra4_e3600_r224_in1k|0")[0],
                      km.Model)


@pytest.mark.parametrize("key", sorted(V1_V3_CONFIGS))
def test_v1_v3_data_config_is_timms(key):
    ours_of, weights, test_size, ckpt = _v1_v3(key)
    ours = km.data_config(ours_of, weights, use_test_size=test_size)
    want = V1_V3_CONFIGS[key]
    _assert_timms_keys(ours, want, key)
    assert ours["num_classes"] == want["num_classes"] == ckpt.num_classes


@pytest.mark.parametrize("key", sorted(V1_V3_CONFIGS))
@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_v1_v3_eval_transform_gives_timms_pixels(key, photo):
    ours_of, weights, test_size, _ = _v1_v3(key)
    got = km.eval_transform(ours_of, weights, use_test_size=test_size)(
        PHOTOS[photo])
    size = V1_V3_CONFIGS[key]["input_size"][1:]
    assert got.shape == (*size, 3) and got.dtype == np.float32
    for part, value in summary(got, samples=1024).items():
        want = V1_V3[f"{key}|{photo}|{part}"].astype("float64")
        # As for V4: within one grey level (the sampled pixels are stored
        # as uint8, the means as float32).
        np.testing.assert_allclose(value, want, rtol=0, atol=1.0,
                                   err_msg=f"{key} {photo} {part}")


def test_a_tag_of_several_alphas_names_the_default_alphas_checkpoint():
    """`data_config(builder, tag)` is the config of what
    `builder(weights=tag)` loads: timm's mobilenetv1_100 and _125 share
    their tag, with different crops."""
    config = km.data_config(km.TimmMobileNetV1, "ra4_e3600_r224_in1k")
    assert (config["crop_pct"], config["test_crop_pct"]) == (0.875, 0.95)
