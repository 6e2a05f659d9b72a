"""Each checkpoint's data configuration, in timm's keys, its evaluation
transform (what a photo goes through for the checkpoint to reach its
published accuracy: resize, crop; the models normalise themselves, or
through `preprocess_input`) and its training transform (timm's random
resized crop and flip, as Keras preprocessing layers)."""

import math
import os

import keras
import numpy as np
from PIL import Image

from . import arguments, builder, registry
from .model import Model

RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR,
            "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}


def _entry(builder_or_name):
    name = builder_or_name
    if callable(builder_or_name):
        name = getattr(builder_or_name, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(
            "Expected a builder of this package (e.g. "
            "keras_mobilenets.MobileNetV4ConvSmall), its name or a model it "
            f"built. Received: {builder_or_name!r} of type "
            f"{type(builder_or_name).__name__}")
    return registry.get(name)


def _carried(model, weights):
    """The data configuration `model` carries (`Model.data_config`)."""
    config = model.data_config if isinstance(model, Model) else None
    if config is None:
        raise ValueError(
            f"Model {model.name!r} carries no data configuration (built by "
            "keras.applications, or loaded from a `.keras` file of an "
            "earlier release): pass its builder and weights instead, e.g. "
            "`data_config(keras_mobilenets.MobileNetV2, 'imagenet')`. "
            f"Received: model={model.name!r} of type {type(model).__name__}")
    if weights != "imagenet":
        raise ValueError(
            "A model carries the data configuration of its own checkpoint: "
            "`weights` is for builders. Received: "
            f"model={model.name!r}, weights={weights!r}")
    return config


def data_config(builder_or_name, weights="imagenet", use_test_size=False):
    """timm's data configuration of a checkpoint.

    Args:
        builder_or_name: a builder (`keras_mobilenets.MobileNetV4ConvSmall`)
            or its name, or a model built by this package (which carries
            the configuration of its checkpoint: the one `weights=` named,
            else the one it normalises with).
        weights: for a builder, what its `weights=` takes: "imagenet" (the
            default checkpoint at alpha 1), a tag (at its alpha; at the
            builder's default alpha where the tag names several, as
            `builder(weights=tag)`: a model built at another alpha
            carries its own),
            "hf-hub:<repo_id>" (its config's recipe); None or a path: the
            default checkpoint's.
        use_test_size: the test resolution and crop where the checkpoint
            has them (timm's `resolve_data_config(use_test_size=True)`).

    Returns:
        A dict with timm's keys: `input_size` (3, rows, cols),
        `interpolation`, `crop_pct`, `crop_mode`, `mean`, `std` (of pixels
        in [0, 1]), `num_classes`, `test_input_size` and `test_crop_pct`
        where the checkpoint has them, and `weights`: the `weights=` value
        of the checkpoint ("imagenet" for keras.applications' files, a
        timm tag, an "hf-hub:" repository). V4 checkpoints carry timm's
        `pretrained_cfg`; V1-V3 the TF-Slim recipe their Keras weights were
        evaluated with (see `weights.sources.KerasCheckpoint`).
    """
    if isinstance(builder_or_name, keras.Model):
        config = _carried(builder_or_name, weights)
    else:
        entry = _entry(builder_or_name)
        _, resolved = builder.resolve(entry, weights=weights,
                                      **_tag_alpha(entry, weights))
        if resolved.data_config is None:
            raise ValueError(f"{entry.name} has no checkpoint, so no data "
                             f"configuration. Received: weights={weights!r}")
        config = resolved.data_config
    if use_test_size and config.get("test_input_size"):
        config["input_size"] = config["test_input_size"]
        config["crop_pct"] = config.get("test_crop_pct", config["crop_pct"])
    return config


def _tag_alpha(entry, weights):
    """{"alpha": a} for a tag of checkpoints at alpha a only; {} (the
    builder's default alpha) for any other `weights` and for a tag the
    default alpha has too (as `builder(weights=tag)` loads it); else a
    ValueError: the tag names several checkpoints."""
    alphas = sorted({c.alpha for c in entry.checkpoints if c.tag == weights})
    default = arguments.signature(entry.arguments, entry.defaults).parameters[
        "alpha"].default
    if not alphas or default in alphas:
        return {}
    if len(alphas) == 1:
        return {"alpha": alphas[0]}
    raise ValueError(
        f"{entry.name}'s tag {weights!r} names checkpoints at alpha in "
        f"{alphas}: pass a model built with one of them (it carries its "
        f"checkpoint's data config). Received: weights={weights!r}")


class EvalTransform:
    """The eval transform of a data configuration: as timm's
    `create_transform(**config)` without its `ToTensor` and `Normalize`, on
    PIL, so the pixels are the same: a float32 (rows, cols, 3) array in
    [0, 255].

    - crop_mode "center": the shorter side resized to floor(size /
      crop_pct), the aspect kept (torchvision's `Resize(int)`), then the
      central size x size (torchvision's `CenterCrop` rounding);
    - crop_mode "squash": the whole image resized to floor(size / crop_pct)
      on both sides, then the central crop.
    """

    def __init__(self, config):
        if config["crop_mode"] not in ("center", "squash"):
            raise ValueError(
                "crop_mode must be 'center' or 'squash'. "
                f"Received: crop_mode={config['crop_mode']!r}")
        self.config = dict(config)
        self.resample = RESAMPLE[config["interpolation"]]

    def __repr__(self):
        return f"EvalTransform({self.config})"

    def resize(self, image):
        _, rows, cols = self.config["input_size"]
        crop_pct = self.config["crop_pct"]
        scale = (math.floor(rows / crop_pct), math.floor(cols / crop_pct))
        width, height = image.size
        if self.config["crop_mode"] == "squash":
            size = (scale[1], scale[0])
        else:
            short, long = sorted((width, height))
            new_long = int(scale[0] * long / short)
            size = ((scale[0], new_long) if width <= height
                    else (new_long, scale[0]))
        if size == image.size:
            return image
        return image.resize(size, self.resample)

    def crop(self, image):
        _, rows, cols = self.config["input_size"]
        width, height = image.size
        top = int(round((height - rows) / 2.0))
        left = int(round((width - cols) / 2.0))
        return image.crop((left, top, left + cols, top + rows))

    def __call__(self, image):
        """`image`: a PIL image, an (rows, cols, 3) uint8 array, or a path."""
        if isinstance(image, (str, os.PathLike)):
            with Image.open(image) as im:
                return self(im.convert("RGB"))
        if isinstance(image, np.ndarray):
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
                raise ValueError(
                    "Expected an (rows, cols, 3) uint8 array. Received: "
                    f"shape {image.shape}, dtype {image.dtype}")
            image = Image.fromarray(image)
        elif not isinstance(image, Image.Image):
            raise TypeError(
                "Expected a PIL image, an (rows, cols, 3) uint8 array or a "
                f"path. Received: {type(image).__name__}")
        image = self.crop(self.resize(image.convert("RGB")))
        return np.asarray(image, dtype="float32")


def eval_transform(builder_or_name, weights="imagenet", use_test_size=False):
    """The evaluation transform of a checkpoint (`data_config`'s
    arguments: a builder or its name, or a model): a callable from a PIL image, an (rows, cols, 3) uint8 array
    or a path to a float32 (rows, cols, 3) array in [0, 255], resized and
    cropped as timm's eval transform for that checkpoint."""
    return EvalTransform(data_config(builder_or_name, weights, use_test_size))


# PIL's resampling filters (libImaging/Resample.c): the triangle of
# "bilinear" (support 1) and Keys' cubic with a = -0.5 of "bicubic"
# (support 2), both zero beyond their support.
def _triangle(ops, t):
    return ops.maximum(1.0 - ops.abs(t), 0.0)


def _cubic(ops, t, a=-0.5):
    t = ops.abs(t)
    near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    far = (((t - 5.0) * t + 8.0) * t - 4.0) * a
    return ops.where(t < 1.0, near, ops.where(t < 2.0, far, 0.0))


FILTERS = {"bilinear": _triangle, "bicubic": _cubic}


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class RandomResizedCrop(keras.layers.RandomCrop):
    """timm's `RandomResizedCropAndInterpolation` (torchvision's
    `RandomResizedCrop`) as a Keras preprocessing layer: a box of a random
    area (`scale`, a fraction of the image) and aspect ratio (`ratio`,
    log-uniform), at a random place, resized to `height` x `width`.

    The box is drawn as timm draws it: ten tries, then a central crop with
    the aspect clamped to `ratio`. The resize is PIL's (antialiased, the box
    cropped first: no pixel outside it is read), written as two matrix
    products on `keras.ops`, so it runs on every backend, under `jit` and
    inside `tf.data` (the layer is a `keras.layers.RandomCrop`); PIL rounds
    8-bit images to integers, this layer keeps floats. Each image of a batch
    gets its own box. At inference the whole image is resized.
    """

    def __init__(self, height, width, scale=(0.08, 1.0),
                 ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation="bilinear",
                 seed=None, **kwargs):
        for label, pair in (("scale", scale), ("ratio", ratio)):
            if (len(pair) != 2 or not 0 < pair[0] <= pair[1]
                    or (label == "scale" and pair[1] > 1)):
                raise ValueError(
                    f"{label} must be (min, max) with 0 < min <= max"
                    + (" <= 1" if label == "scale" else "")
                    + f". Received: {label}={pair!r}")
        if interpolation not in FILTERS:
            raise ValueError(
                f"interpolation must be one of {sorted(FILTERS)}. "
                f"Received: interpolation={interpolation!r}")
        super().__init__(height, width, seed=seed, **kwargs)
        if self.data_format != "channels_last":
            raise ValueError("RandomResizedCrop takes channels_last images. "
                             f"Received: data_format={self.data_format!r}")
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)
        self.interpolation = interpolation

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, ratio=self.ratio,
                      interpolation=self.interpolation)
        return config

    def get_random_transformation(self, data, training=True, seed=None,
                                  tries=10):
        ops = self.backend
        images = data["images"] if isinstance(data, dict) else data
        shape = ops.shape(images)
        count = shape[0] if len(shape) == 4 else 1
        rows = ops.cast(shape[-3], "float32")
        cols = ops.cast(shape[-2], "float32")
        if not training:
            whole = ops.numpy.zeros((count,))
            return {"top": whole, "left": whole,
                    "rows": whole + rows, "cols": whole + cols}
        if seed is None:
            seed = self._get_seed_generator(ops._backend)
        area = ops.random.uniform((count, tries), *self.scale,
                                  seed=seed) * rows * cols
        aspect = ops.numpy.exp(ops.random.uniform(
            (count, tries), *[math.log(r) for r in self.ratio], seed=seed))
        box_cols = ops.numpy.round(ops.numpy.sqrt(area * aspect))
        box_rows = ops.numpy.round(ops.numpy.sqrt(area / aspect))
        fits = ops.numpy.logical_and(box_cols <= cols, box_rows <= rows)
        # The first try that fits; none: timm's central fallback.
        first = ops.numpy.argmax(ops.cast(fits, "int32"), axis=1)[:, None]
        found = ops.numpy.any(fits, axis=1)
        box_cols = ops.numpy.take_along_axis(box_cols, first, axis=1)[:, 0]
        box_rows = ops.numpy.take_along_axis(box_rows, first, axis=1)[:, 0]
        low, high = self.ratio
        wide, tall = cols / rows > high, cols / rows < low
        box_cols = ops.numpy.where(found, box_cols, ops.numpy.where(
            wide, ops.numpy.round(rows * high), cols))
        box_rows = ops.numpy.where(found, box_rows, ops.numpy.where(
            tall, ops.numpy.round(cols / low), rows))
        where = ops.random.uniform((2, count), 0.0, 1.0, seed=seed)
        top = ops.numpy.where(found, ops.numpy.floor(
            where[0] * (rows - box_rows + 1)), ops.numpy.floor(
                (rows - box_rows) / 2))
        left = ops.numpy.where(found, ops.numpy.floor(
            where[1] * (cols - box_cols + 1)), ops.numpy.floor(
                (cols - box_cols) / 2))
        return {"top": top, "left": left, "rows": box_rows, "cols": box_cols}

    def _weights(self, start, length, size, out):
        """(images, out, size): row i holds the PIL filter weights of output
        pixel i over the input pixels, zero outside the box."""
        ops = self.backend
        kernel = FILTERS[self.interpolation]
        start = ops.convert_to_tensor(start, "float32")
        length = ops.convert_to_tensor(length, "float32")
        step = (length / out)[:, None, None]
        stretch = ops.numpy.maximum(step, 1.0)
        centre = start[:, None, None] + (
            ops.numpy.arange(out, dtype="float32")[None, :, None] + 0.5) * step
        pixel = ops.numpy.arange(size, dtype="float32")[None, None, :]
        inside = ops.numpy.logical_and(
            pixel >= start[:, None, None],
            pixel < (start + length)[:, None, None])
        weight = ops.numpy.where(
            inside, kernel(ops.numpy, (pixel + 0.5 - centre) / stretch), 0.0)
        return weight / ops.numpy.sum(weight, axis=2, keepdims=True)

    def transform_images(self, images, transformation, training=True):
        ops = self.backend
        images = ops.cast(images, self.compute_dtype)
        shape = ops.shape(images)
        along_rows = self._weights(transformation["top"],
                                   transformation["rows"], shape[1],
                                   self.height)
        along_cols = self._weights(transformation["left"],
                                   transformation["cols"], shape[2],
                                   self.width)
        images = ops.numpy.einsum("bor,brwc->bowc",
                                  ops.cast(along_rows, images.dtype), images)
        return ops.numpy.einsum("bpw,bowc->bopc",
                                ops.cast(along_cols, images.dtype), images)

    def transform_bounding_boxes(self, bounding_boxes, transformation,
                                 training=True):
        raise NotImplementedError("RandomResizedCrop transforms images only.")

    def transform_segmentation_masks(self, segmentation_masks,
                                     transformation, training=True):
        raise NotImplementedError("RandomResizedCrop transforms images only.")


def train_transform(builder_or_name, weights="imagenet", scale=(0.08, 1.0),
                    ratio=(3.0 / 4.0, 4.0 / 3.0), flip=True, size=None,
                    seed=None):
    """The training augmentation of timm's `transforms_imagenet_train` for a
    checkpoint (`data_config`'s size and interpolation): a random resized
    crop (timm's default `scale` and `ratio`), then a horizontal flip with
    probability 0.5.

    Returns a `keras.layers.Pipeline`: map it over a `tf.data` dataset of
    single images of any size or of batches (on any backend), or use it as
    the first layer of a model. Pixels keep their range (e.g. [0, 255]).
    timm's colour jitter (0.4, on by default where no RandAugment is used)
    is left out: add Keras' `RandAugment`, `MixUp` or `CutMix` as needed.
    `size` (rows, cols) replaces the checkpoint's input size.
    """
    config = data_config(builder_or_name, weights)
    rows, cols = size or config["input_size"][1:]
    layers = [RandomResizedCrop(rows, cols, scale=scale, ratio=ratio,
                                interpolation=config["interpolation"],
                                seed=seed)]
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    return keras.layers.Pipeline(layers, name="train_transform")
