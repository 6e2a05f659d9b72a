"""Each checkpoint's data configuration, in timm's keys, and its evaluation
transform: what a photo goes through for the checkpoint to reach its
published accuracy (resize, crop; the models normalise themselves, or
through `preprocess_input`)."""

import math
import os

import numpy as np
from PIL import Image

from . import registry

RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR,
            "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}


def _entry(builder_or_name):
    name = builder_or_name
    if callable(builder_or_name):
        name = getattr(builder_or_name, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(
            "Expected a builder of this package (e.g. "
            "keras_mobilenets.MobileNetV4ConvSmall) or its name. "
            f"Received: {builder_or_name!r} of type "
            f"{type(builder_or_name).__name__}")
    return registry.get(name)


def data_config(builder_or_name, weights="imagenet", use_test_size=False):
    """timm's data configuration of a checkpoint.

    Args:
        builder_or_name: a builder (`keras_mobilenets.MobileNetV4ConvSmall`)
            or its name.
        weights: "imagenet" (the default checkpoint at alpha 1) or a tag.
        use_test_size: the test resolution and crop where the checkpoint
            has them (timm's `resolve_data_config(use_test_size=True)`).

    Returns:
        A dict with timm's keys: `input_size` (3, rows, cols),
        `interpolation`, `crop_pct`, `crop_mode`, `mean`, `std` (of pixels
        in [0, 1]) and `num_classes`. V4 checkpoints carry timm's
        `pretrained_cfg`; V1-V3 the TF-Slim recipe their Keras weights were
        evaluated with (see `weights.sources.KerasCheckpoint`).
    """
    ckpt = _entry(builder_or_name).checkpoint(weights)
    size, crop = ckpt.input_size, ckpt.crop_pct
    if use_test_size and ckpt.test_input_size:
        size, crop = ckpt.test_input_size, ckpt.test_crop_pct or crop
    return {
        "input_size": (3, size, size),
        "interpolation": ckpt.interpolation,
        "crop_pct": crop,
        "crop_mode": ckpt.crop_mode,
        "mean": tuple(ckpt.mean),
        "std": tuple(ckpt.std),
        "num_classes": ckpt.num_classes,
    }


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
    arguments): a callable from a PIL image, an (rows, cols, 3) uint8 array
    or a path to a float32 (rows, cols, 3) array in [0, 255], resized and
    cropped as timm's eval transform for that checkpoint."""
    return EvalTransform(data_config(builder_or_name, weights, use_test_size))
