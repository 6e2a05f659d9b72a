"""The training transform (`train_transform`, `RandomResizedCrop`) against
timm's `RandomResizedCropAndInterpolation` (tests/fixtures/train_transform.npz,
from fixture_scripts/make_train_transform_fixture.py): the same pixels for a
given box, the same fallback box, boxes within scale and ratio; seeded
runs repeat; it runs as a layer on every backend and inside tf.data."""

import os

import keras
import numpy as np
import pytest
from PIL import Image

import keras_mobilenets as km
from conftest import ROOT
from keras_mobilenets.data import RandomResizedCrop

FIXTURE = dict(np.load(os.path.join(ROOT, "tests", "fixtures",
                                    "train_transform.npz")))


PIL_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def boxes(rows):
    """A transformation dict from (top, left, rows, cols) rows."""
    rows = np.asarray(rows, "float32")
    return dict(zip(("top", "left", "rows", "cols"), rows.T))


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_resize_of_a_box_is_timms(interpolation):
    layer = RandomResizedCrop(*FIXTURE["size"], interpolation=interpolation)
    count = len(FIXTURE["boxes"])
    images = np.repeat(FIXTURE["image"][None], count, 0).astype("float32")
    out = numpy(layer.transform_images(images, boxes(FIXTURE["boxes"])))
    # PIL rounds 8-bit images to integers after each of its two passes and
    # clips them to [0, 255]; we keep floats. Bilinear: at most one grey
    # level apart. Bicubic overshoots on this noise image, and PIL clips the
    # overshoot between its passes too: a few levels where it does.
    ours = np.clip(np.round(out), 0, 255)
    diff = np.abs(ours - FIXTURE[interpolation].astype("float32"))
    bound, mean = {"bilinear": (1, 0.25), "bicubic": (8, 0.5)}[interpolation]
    assert diff.max() <= bound and diff.mean() < mean, (diff.max(), diff.mean())
    # The same resize in PIL's float mode, which neither rounds nor clips
    # (PIL is what timm's transform calls): the same numbers.
    for box, got in zip(FIXTURE["boxes"], out):
        top, left, rows, cols = box.tolist()
        for channel in range(3):
            plane = Image.fromarray(images[0, ..., channel], "F").crop(
                (left, top, left + cols, top + rows))
            want = np.asarray(plane.resize(
                tuple(FIXTURE["size"][::-1].tolist()), PIL_FILTERS[interpolation]))
            np.testing.assert_allclose(got[..., channel], want, atol=2e-3)


def test_defaults_are_timms():
    layer = km.train_transform("MobileNetV4ConvSmall").layers[0]
    np.testing.assert_allclose(layer.scale, FIXTURE["scale"])
    np.testing.assert_allclose(layer.ratio, FIXTURE["ratio"])
    config = km.data_config("MobileNetV4ConvSmall")
    assert (layer.height, layer.width) == config["input_size"][1:]
    assert layer.interpolation == config["interpolation"]


@pytest.mark.parametrize("index", [0, 1])
def test_fallback_box_is_timms(index):
    rows, cols = FIXTURE["fallback_shapes"][index]
    layer = RandomResizedCrop(8, 8, seed=0)
    got = layer.get_random_transformation(np.zeros((1, rows, cols, 3)))
    got = [float(numpy(got[k])[0]) for k in ("top", "left", "rows", "cols")]
    assert got == FIXTURE["fallback_boxes"][index].tolist()


def test_boxes_lie_within_scale_and_ratio():
    layer = RandomResizedCrop(8, 8, scale=(0.25, 0.5), ratio=(0.5, 2.0), seed=0)
    t = {k: numpy(v) for k, v in layer.get_random_transformation(
        np.zeros((500, 60, 80, 3))).items()}
    area = t["rows"] * t["cols"] / (60 * 80)
    ratio = t["cols"] / t["rows"]
    # Rounding the sides to pixels moves area and ratio a little.
    assert area.min() > 0.25 * 0.95 and area.max() < 0.5 * 1.05
    assert ratio.min() > 0.5 * 0.9 and ratio.max() < 2.0 * 1.1
    assert (t["top"] >= 0).all() and (t["top"] + t["rows"] <= 60).all()
    assert (t["left"] >= 0).all() and (t["left"] + t["cols"] <= 80).all()
    # Log-uniform ratio: as many boxes wider than tall as taller than wide.
    assert 0.4 < (ratio > 1).mean() < 0.6
    assert len(np.unique(t["top"])) > 10 and len(np.unique(t["left"])) > 10


def photos(count=4):
    rng = np.random.default_rng(1)
    return rng.uniform(0, 255, (count, 40, 52, 3)).astype("float32")


def test_shapes_range_variety_and_seed():
    images = photos()
    transform = km.train_transform("MobileNet", seed=7)
    out = numpy(transform(images))
    assert out.shape == (4, 224, 224, 3) and out.dtype == np.float32
    # Bilinear weights are non-negative and sum to one: the range is kept.
    assert out.min() >= images.min() - 1e-3 and out.max() <= images.max() + 1e-3
    again = numpy(transform(images))
    assert np.abs(out - again).max() > 1  # a new crop each call
    assert np.abs(out[0] - out[1]).max() > 1
    seeded = numpy(km.train_transform("MobileNet", seed=7)(images))
    np.testing.assert_allclose(seeded, out, atol=1e-4)
    single = numpy(transform(images[0]))
    assert single.shape == (224, 224, 3)
    small = km.train_transform("MobileNet", size=(32, 48))(images)
    assert numpy(small).shape == (4, 32, 48, 3)
    whole = numpy(RandomResizedCrop(40, 52)(images, training=False))
    np.testing.assert_allclose(whole, images, atol=1e-3)


def test_inside_a_model_and_saved(tmp_path):
    inputs = keras.Input((40, 52, 3))
    outputs = km.train_transform("MobileNetV4ConvSmall", seed=0)(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(outputs))
    assert numpy(model(photos(2), training=True)).shape == (2, 3)
    np.testing.assert_allclose(numpy(model(photos(2), training=False)),
                               photos(2).mean(axis=(1, 2)), rtol=1e-3)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    crop = loaded.layers[1].layers[0]
    assert isinstance(crop, RandomResizedCrop)
    assert crop.get_config() == model.layers[1].layers[0].get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Received: scale=\(0.5, 1.5\)"):
        RandomResizedCrop(8, 8, scale=(0.5, 1.5))
    with pytest.raises(ValueError, match=r"Received: ratio=\(2.0, 1.0\)"):
        RandomResizedCrop(8, 8, ratio=(2.0, 1.0))
    with pytest.raises(ValueError, match="Received: interpolation='area'"):
        RandomResizedCrop(8, 8, interpolation="area")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tf.data is tested in the TensorFlow session")
def test_in_tf_data_on_images_of_any_size():
    import tensorflow as tf

    sizes = [(30, 50), (64, 40), (224, 300)]
    ds = tf.data.Dataset.from_generator(
        lambda: (np.full(s + (3,), 100, "uint8") for s in sizes),
        output_signature=tf.TensorSpec((None, None, 3), tf.uint8))
    transform = km.train_transform("MobileNet", seed=0)
    out = np.stack(list(ds.map(transform).batch(3).as_numpy_iterator())[0])
    assert out.shape == (3, 224, 224, 3)
    np.testing.assert_allclose(out, 100, atol=1e-3)
