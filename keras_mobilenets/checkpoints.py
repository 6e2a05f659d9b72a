"""Pretrained configurations, one shape for every architecture module: a
checkpoint is keyed "<architecture>.<tag>" as timm keys its `default_cfgs`
(`checkpoint`); its (mean, std) one of `IMAGENET`, `INCEPTION`, `ZERO_ONE`
(defined once, in `weights.sources`)."""

from .weights import KerasCheckpoint, TimmCheckpoint
from .weights.sources import IMAGENET, INCEPTION, ZERO_ONE  # noqa: F401


def parse_key(key):
    """(architecture, tag) of a checkpoint key "<architecture>.<tag>"."""
    architecture, dot, tag = key.partition(".") if isinstance(key, str) \
        else ("", "", "")
    if not architecture or not dot or not tag or "." in tag:
        raise ValueError("A checkpoint key is '<architecture>.<tag>' (timm's "
                         "'mobilenetv4_conv_small.e2400_r224_in1k'). "
                         f"Received: key={key!r}")
    return architecture, tag


def checkpoint(key, alpha, size, crop, norm, top1=None, test=None,
               files=None, **fields):
    """One pretrained checkpoint of an architecture module.

    - `key`: "<architecture>.<tag>": timm's names (the hub repository is
      `timm/<key>`); for keras.applications' files, the Keras model and
      alpha, and `r<size>_in1k`.
    - `alpha`, `size`: the width it was trained at, its square training
      resolution; `crop`: its eval `crop_pct`; `norm`: (mean, std)
      (`IMAGENET`, `INCEPTION`, `ZERO_ONE`).
    - `top1`: timm's ImageNet-1k top-1 (%) at `size`, `crop`
      (results/results-imagenet.csv of huggingface/pytorch-image-models,
      commit aa4b5850c154); `test`: (size, crop, top-1) at timm's
      `test_input_size` and `test_crop_pct`, where it has them.
    - `files`: keras.applications' (with top, without top) `WeightFile`s:
      a `KerasCheckpoint`, read by layer name; else a `TimmCheckpoint`.
    - `fields`: the rest of the record (`default`, `interpolation`,
      `num_classes`, `options`).
    """
    architecture, tag = parse_key(key)
    mean, std = norm
    if files is not None:
        return KerasCheckpoint(alpha, size, *files, key=key, crop_pct=crop,
                               mean=mean, std=std, **fields)
    test_size, test_crop, test_top1 = test or (None, None, None)
    return TimmCheckpoint(architecture, tag, alpha, size, crop, test_size,
                          test_crop, mean, std, top1, test_top1, **fields)
