"""The ImageNet-1k checkpoints of MobileNetV4 that timm publishes on the Hugging
Face hub, and loading them: download the safetensors file, convert it
(`convert.py`), cache the converted weights.

Configurations are timm 1.0.31's `pretrained_cfgs` (models/mobilenetv3.py);
top-1 accuracies are timm's results-imagenet.csv, at the training resolution
(`input_size`, `crop_pct`) and at the test resolution (`test_input_size`,
`test_crop_pct`). Every checkpoint was trained with bicubic resizing.
"""

import dataclasses
import os
import tempfile
import typing
import warnings

from . import weights as weights_lib

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
INCEPTION_MEAN, INCEPTION_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)

HF_URL = "https://huggingface.co/{hf_hub_id}/resolve/main/model.safetensors"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One published ImageNet-1k checkpoint of a MobileNetV4 variant."""

    model: str  # timm architecture, e.g. "mobilenetv4_conv_small_050"
    tag: str  # timm pretrained tag, e.g. "e3000_r224_in1k"
    alpha: float
    input_size: int  # square training resolution
    crop_pct: float
    test_input_size: typing.Optional[int]  # None where timm sets none
    test_crop_pct: typing.Optional[float]
    mean: tuple
    std: tuple
    top1: typing.Optional[float]  # % at input_size and crop_pct
    test_top1: typing.Optional[float]  # % at test_input_size and test_crop_pct
    interpolation: str = "bicubic"

    @property
    def hf_hub_id(self):
        return f"timm/{self.model}.{self.tag}"

    @property
    def url(self):
        return HF_URL.format(hf_hub_id=self.hf_hub_id)

    @property
    def weight_file(self):
        """The download: timm's safetensors file, cached under this name.
        The hub publishes no hash we could pin offline."""
        return weights_lib.WeightFile(
            f"{self.model}.{self.tag}.safetensors", self.url
        )

    def converted_fname(self, include_top):
        """Name of the cached Keras weights converted from `weight_file`."""
        return f"{self.model}.{self.tag}{'' if include_top else '_notop'}.h5"


def _ckpt(model, tag, alpha, size, crop, test_size, test_crop, norm, top1,
          test_top1):
    mean, std = norm
    return Checkpoint(model, tag, alpha, size, crop, test_size, test_crop,
                      mean, std, top1, test_top1)


IMNET = (IMAGENET_MEAN, IMAGENET_STD)
INCEP = (INCEPTION_MEAN, INCEPTION_STD)

# Per variant (the keys of mobilenet_v4.VARIANTS), timm's default checkpoint
# of each alpha first: that is what `weights="imagenet"` loads.
CHECKPOINTS = {
    "conv_small": (
        # model, tag, alpha, size, crop, test size, test crop, mean/std, top-1 @size, @test size
        _ckpt("mobilenetv4_conv_small", "e2400_r224_in1k", 1.0, 224, 0.875, 256, 0.95, IMNET, 73.756, 74.644),
        _ckpt("mobilenetv4_conv_small", "e1200_r224_in1k", 1.0, 224, 0.875, 256, 0.95, IMNET, 73.450, 74.282),
        _ckpt("mobilenetv4_conv_small", "e3600_r256_in1k", 1.0, 256, 0.95, 320, 1.0, INCEP, 74.534, 75.616),
        _ckpt("mobilenetv4_conv_small_050", "e3000_r224_in1k", 0.5, 224, 0.875, 256, 0.95, INCEP, 64.778, 65.826),
    ),
    "conv_medium": (
        _ckpt("mobilenetv4_conv_medium", "e500_r256_in1k", 1.0, 256, 0.95, 320, 1.0, IMNET, 79.916, 80.890),
        _ckpt("mobilenetv4_conv_medium", "e500_r224_in1k", 1.0, 224, 0.95, 256, 1.0, IMNET, 79.092, 79.836),
        # Pre-trained on ImageNet-12k, fine-tuned on ImageNet-1k.
        _ckpt("mobilenetv4_conv_medium", "e250_r384_in12k_ft_in1k", 1.0, 384, 0.95, None, None, IMNET, 82.776, None),
    ),
    "conv_large": (
        _ckpt("mobilenetv4_conv_large", "e600_r384_in1k", 1.0, 384, 0.95, 448, 1.0, IMNET, 82.974, 83.418),
        _ckpt("mobilenetv4_conv_large", "e500_r256_in1k", 1.0, 256, 0.95, 320, 1.0, IMNET, 81.864, 82.672),
    ),
    "hybrid_medium": (
        # Pre-trained on ImageNet-12k, fine-tuned on ImageNet-1k.
        _ckpt("mobilenetv4_hybrid_medium", "e200_r256_in12k_ft_in1k", 1.0, 256, 0.95, 320, 1.0, IMNET, 82.360, 82.998),
        _ckpt("mobilenetv4_hybrid_medium", "ix_e550_r256_in1k", 1.0, 256, 0.95, 320, 1.0, IMNET, 81.478, 82.500),
        _ckpt("mobilenetv4_hybrid_medium", "ix_e550_r384_in1k", 1.0, 384, 0.95, 448, 1.0, IMNET, 82.952, 83.390),
        _ckpt("mobilenetv4_hybrid_medium", "e500_r224_in1k", 1.0, 224, 0.95, 256, 1.0, IMNET, 80.432, 81.284),
    ),
    "hybrid_large": (
        _ckpt("mobilenetv4_hybrid_large", "ix_e600_r384_in1k", 1.0, 384, 0.95, 448, 1.0, IMNET, 83.996, 84.352),
        _ckpt("mobilenetv4_hybrid_large", "e600_r384_in1k", 1.0, 384, 0.95, 448, 1.0, IMNET, 83.826, 84.264),
    ),
}


def tags(variant):
    return tuple(c.tag for c in CHECKPOINTS[variant])


def checkpoint(variant, alpha, weights):
    """The checkpoint `weights` ("imagenet" or a tag) names, or None: the
    default of `alpha` for "imagenet" (None if `alpha` has none)."""
    for c in CHECKPOINTS[variant]:
        if weights == c.tag or (weights == "imagenet" and c.alpha == alpha):
            return c
    return None


def load(model, ckpt, include_top, head_modules):
    """Loads `ckpt` into `model`: its cached conversion if there is one, else
    the downloaded (or cached) safetensors file, converted strictly and then
    cached, so that the second load reads a Keras file. Without the top, the
    checkpoint's `head_modules` are left out."""
    folder = os.path.join(weights_lib.cache_dir(), "models")
    cached = os.path.join(folder, ckpt.converted_fname(include_top))
    if os.path.isfile(cached):
        weights_lib.load_weights(model, cached)
        return
    from . import convert  # not at import time: see mobilenet_v4._load_weights

    source = weights_lib.fetch(ckpt.weight_file)
    convert.load_safetensors(
        model, source, ignore=() if include_top else head_modules
    )
    # Written beside the target, then renamed: a concurrent reader never sees
    # a partial file. The weights are loaded already, so a cache that cannot
    # be written only costs the next load a conversion.
    try:
        fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".h5", dir=folder)
        os.close(fd)
        try:
            weights_lib.save_weights_file(model, tmp)
            os.replace(tmp, cached)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        warnings.warn(f"Could not cache the converted weights at {cached}: {e}",
                      stacklevel=4)
