"""MobileNetV4: Universal Inverted Bottlenecks and Mobile multi-query attention.

Qin et al., "MobileNetV4: Universal Models for the Mobile Ecosystem",
https://arxiv.org/abs/2404.10518. The networks and weights are timm's
(`mobilenetv4_*` in timm/models/mobilenetv3.py); layer names are timm's module
paths (`blocks_2_1_dw_start_conv`), so its checkpoints convert mechanically
(`convert.py`).
"""

import dataclasses
import os
import textwrap
import typing

from keras import layers

from . import _args
from . import _blocks
from . import _blocks_v4
from . import _v4_weights
from . import imagenet
from . import weights as weights_lib
from ._builder import Generation, Style, build
from ._docs import builder_doc


@dataclasses.dataclass(frozen=True)
class ConvBN:
    """Plain conv + BN + activation block (timm `cn`)."""

    kernel_size: int
    stride: int
    filters: int

    def add(self, x, filters, prefix, variant):
        return _blocks_v4.conv_bn_act(x, filters, self.kernel_size, self.stride,
                                      variant.activation, prefix, STYLE)


@dataclasses.dataclass(frozen=True)
class FusedIB:
    """Fused inverted bottleneck (timm `er`)."""

    kernel_size: int
    stride: int
    filters: int
    expand_ratio: float

    def add(self, x, filters, prefix, variant):
        return _blocks_v4.fused_inverted_bottleneck(
            x, filters, self.kernel_size, self.stride, self.expand_ratio,
            variant.activation, prefix, STYLE,
        )


@dataclasses.dataclass(frozen=True)
class UIB:
    """Universal Inverted Bottleneck (timm `uir`); a kernel of 0 is no conv."""

    start_dw_kernel: int
    mid_dw_kernel: int
    stride: int
    filters: int
    expand_ratio: float

    def add(self, x, filters, prefix, variant):
        return _blocks_v4.universal_inverted_bottleneck(
            x, filters, self.start_dw_kernel, self.mid_dw_kernel, self.stride,
            self.expand_ratio, variant.activation, variant.layer_scale, prefix,
            STYLE,
        )


@dataclasses.dataclass(frozen=True)
class MQA:
    """Mobile multi-query attention block (timm `mqa`); key_dim = value_dim."""

    num_heads: int
    key_dim: int
    kv_stride: int
    filters: int
    kv_dw_kernel: int = 3

    def add(self, x, filters, prefix, variant):
        return _blocks_v4.mobile_mqa(
            x, filters, self.num_heads, self.key_dim, self.key_dim,
            self.kv_stride, self.kv_dw_kernel, variant.layer_scale, prefix,
            STYLE,
        )


# The row constructors of the tables, in the order of the paper's tables and
# of tensorflow/models' MobileNetV4 block specs.
def conv_bn(kernel_size, stride, filters):
    return ConvBN(kernel_size, stride, filters)


def fused_ib(kernel_size, stride, filters, expand_ratio):
    return FusedIB(kernel_size, stride, filters, expand_ratio)


def uib(start_dw_k, mid_dw_k, stride, filters, expand_ratio):
    return UIB(start_dw_k, mid_dw_k, stride, filters, expand_ratio)


def mqa(num_heads, key_dim, kv_stride, filters):
    return MQA(num_heads, key_dim, kv_stride, filters)


# One tuple of rows per stage (timm's `blocks.<stage>`); row j of stage i is
# the block named `blocks_<i>_<j>`. Transcribed from timm's
# `_gen_mobilenet_v4` arch strings, with repeats written out.
CONV_SMALL = (
    (conv_bn(3, 2, 32), conv_bn(1, 1, 32)),
    (conv_bn(3, 2, 96), conv_bn(1, 1, 64)),
    (
        uib(5, 5, 2, 96, 3.0),  # ExtraDW
        uib(0, 3, 1, 96, 2.0),  # IB
        uib(0, 3, 1, 96, 2.0),
        uib(0, 3, 1, 96, 2.0),
        uib(0, 3, 1, 96, 2.0),
        uib(3, 0, 1, 96, 4.0),  # ConvNeXt
    ),
    (
        uib(3, 3, 2, 128, 6.0),
        uib(5, 5, 1, 128, 4.0),
        uib(0, 5, 1, 128, 4.0),
        uib(0, 5, 1, 128, 3.0),
        uib(0, 3, 1, 128, 4.0),
        uib(0, 3, 1, 128, 4.0),
    ),
    (conv_bn(1, 1, 960),),
)

CONV_MEDIUM = (
    (fused_ib(3, 2, 48, 4.0),),
    (uib(3, 5, 2, 80, 4.0), uib(3, 3, 1, 80, 2.0)),
    (
        uib(3, 5, 2, 160, 6.0),
        uib(3, 3, 1, 160, 4.0),
        uib(3, 3, 1, 160, 4.0),
        uib(3, 5, 1, 160, 4.0),
        uib(3, 3, 1, 160, 4.0),
        uib(3, 0, 1, 160, 4.0),  # ConvNeXt
        uib(0, 0, 1, 160, 2.0),  # FFN
        uib(3, 0, 1, 160, 4.0),
    ),
    (
        uib(5, 5, 2, 256, 6.0),
        uib(5, 5, 1, 256, 4.0),
        uib(3, 5, 1, 256, 4.0),
        uib(3, 5, 1, 256, 4.0),
        uib(0, 0, 1, 256, 4.0),
        uib(3, 0, 1, 256, 4.0),
        uib(3, 5, 1, 256, 2.0),
        uib(5, 5, 1, 256, 4.0),
        uib(0, 0, 1, 256, 4.0),
        uib(0, 0, 1, 256, 4.0),
        uib(5, 0, 1, 256, 2.0),
    ),
    (conv_bn(1, 1, 960),),
)

CONV_LARGE = (
    (fused_ib(3, 2, 48, 4.0),),
    (uib(3, 5, 2, 96, 4.0), uib(3, 3, 1, 96, 4.0)),
    (
        uib(3, 5, 2, 192, 4.0),
        uib(3, 3, 1, 192, 4.0),
        uib(3, 3, 1, 192, 4.0),
        uib(3, 3, 1, 192, 4.0),
        uib(3, 5, 1, 192, 4.0),
        uib(5, 3, 1, 192, 4.0),
        uib(5, 3, 1, 192, 4.0),
        uib(5, 3, 1, 192, 4.0),
        uib(5, 3, 1, 192, 4.0),
        uib(5, 3, 1, 192, 4.0),
        uib(3, 0, 1, 192, 4.0),
    ),
    (
        uib(5, 5, 2, 512, 4.0),
        uib(5, 5, 1, 512, 4.0),
        uib(5, 5, 1, 512, 4.0),
        uib(5, 5, 1, 512, 4.0),
        uib(5, 0, 1, 512, 4.0),
        uib(5, 3, 1, 512, 4.0),
        uib(5, 0, 1, 512, 4.0),
        uib(5, 0, 1, 512, 4.0),
        uib(5, 3, 1, 512, 4.0),
        uib(5, 5, 1, 512, 4.0),
        uib(5, 0, 1, 512, 4.0),
        uib(5, 0, 1, 512, 4.0),
        uib(5, 0, 1, 512, 4.0),
    ),
    (conv_bn(1, 1, 960),),
)

HYBRID_MEDIUM = (
    (fused_ib(3, 2, 48, 4.0),),
    (uib(3, 5, 2, 80, 4.0), uib(3, 3, 1, 80, 2.0)),
    (
        uib(3, 5, 2, 160, 6.0),
        uib(0, 0, 1, 160, 2.0),
        uib(3, 3, 1, 160, 4.0),
        uib(3, 5, 1, 160, 4.0),
        mqa(4, 64, 2, 160),  # keys and values downsampled 2x
        uib(3, 3, 1, 160, 4.0),
        mqa(4, 64, 2, 160),
        uib(3, 0, 1, 160, 4.0),
        mqa(4, 64, 2, 160),
        uib(3, 3, 1, 160, 4.0),
        mqa(4, 64, 2, 160),
        uib(3, 0, 1, 160, 4.0),
    ),
    (
        uib(5, 5, 2, 256, 6.0),
        uib(5, 5, 1, 256, 4.0),
        uib(3, 5, 1, 256, 4.0),
        uib(3, 5, 1, 256, 4.0),
        uib(0, 0, 1, 256, 2.0),
        uib(3, 5, 1, 256, 2.0),
        uib(0, 0, 1, 256, 2.0),
        uib(0, 0, 1, 256, 4.0),
        mqa(4, 64, 1, 256),
        uib(3, 0, 1, 256, 4.0),
        mqa(4, 64, 1, 256),
        uib(5, 5, 1, 256, 4.0),
        mqa(4, 64, 1, 256),
        uib(5, 0, 1, 256, 4.0),
        mqa(4, 64, 1, 256),
        uib(5, 0, 1, 256, 4.0),
    ),
    (conv_bn(1, 1, 960),),
)

HYBRID_LARGE = (
    (fused_ib(3, 2, 48, 4.0),),
    (uib(3, 5, 2, 96, 4.0), uib(3, 3, 1, 96, 4.0)),
    (
        uib(3, 5, 2, 192, 4.0),
        uib(3, 3, 1, 192, 4.0),
        uib(3, 3, 1, 192, 4.0),
        uib(3, 3, 1, 192, 4.0),
        uib(3, 5, 1, 192, 4.0),
        uib(5, 3, 1, 192, 4.0),
        uib(5, 3, 1, 192, 4.0),
        mqa(8, 48, 2, 192),
        uib(5, 3, 1, 192, 4.0),
        mqa(8, 48, 2, 192),
        uib(5, 3, 1, 192, 4.0),
        mqa(8, 48, 2, 192),
        uib(5, 3, 1, 192, 4.0),
        mqa(8, 48, 2, 192),
        uib(3, 0, 1, 192, 4.0),
    ),
    (
        uib(5, 5, 2, 512, 4.0),
        uib(5, 5, 1, 512, 4.0),
        uib(5, 5, 1, 512, 4.0),
        uib(5, 5, 1, 512, 4.0),
        uib(5, 0, 1, 512, 4.0),
        uib(5, 3, 1, 512, 4.0),
        uib(5, 0, 1, 512, 4.0),
        uib(5, 0, 1, 512, 4.0),
        uib(5, 3, 1, 512, 4.0),
        uib(5, 5, 1, 512, 4.0),
        mqa(8, 64, 1, 512),
        uib(5, 0, 1, 512, 4.0),
        mqa(8, 64, 1, 512),
        uib(5, 0, 1, 512, 4.0),
        mqa(8, 64, 1, 512),
        uib(5, 0, 1, 512, 4.0),
        mqa(8, 64, 1, 512),
        uib(5, 0, 1, 512, 4.0),
    ),
    (conv_bn(1, 1, 960),),
)


@dataclasses.dataclass(frozen=True)
class Variant:
    """What differs between the MobileNetV4 models."""

    title: str  # builder and default model name
    timm_name: str  # timm architecture at alpha 1
    stem_filters: int
    activation: str  # of every block, the stem and the head
    layer_scale: typing.Optional[float]  # initial LayerScale of UIB and MQA blocks
    stages: tuple
    timm_alphas: tuple = ()  # other widths timm registers, e.g. 0.5 -> "_050"


VARIANTS = {
    "conv_small": Variant("MobileNetV4ConvSmall", "mobilenetv4_conv_small", 32,
                          "relu", None, CONV_SMALL, timm_alphas=(0.35, 0.5)),
    "conv_medium": Variant("MobileNetV4ConvMedium", "mobilenetv4_conv_medium",
                           32, "relu", None, CONV_MEDIUM),
    "conv_large": Variant("MobileNetV4ConvLarge", "mobilenetv4_conv_large", 24,
                          "relu", None, CONV_LARGE),
    "hybrid_medium": Variant("MobileNetV4HybridMedium",
                             "mobilenetv4_hybrid_medium", 32, "relu", 1e-5,
                             HYBRID_MEDIUM, timm_alphas=(0.75,)),
    # GELU in its exact (erf) form, as timm's nn.GELU.
    "hybrid_large": Variant("MobileNetV4HybridLarge", "mobilenetv4_hybrid_large",
                            24, "gelu", 1e-5, HYBRID_LARGE, timm_alphas=(0.75,)),
}

# timm's conventions: PyTorch BatchNorm defaults (eps 1e-5, momentum 0.1, i.e.
# Keras momentum 0.9) and symmetric padding of strided convolutions.
STYLE = Style(bn_epsilon=1e-5, bn_momentum=0.9, pad_mode="symmetric")
HEAD_FILTERS = 1280  # never scaled by alpha, as in timm
HEAD_MODULES = ("conv_head", "norm_head", "classifier")  # the top's timm modules


def _body(x, cfg):
    variant = VARIANTS[cfg.variant]
    # timm scales the stem only when widening (`fix_stem=alpha < 1`).
    stem = variant.stem_filters
    if cfg.alpha > 1.0:
        stem = _blocks.make_divisible(stem * cfg.alpha)
    x = _blocks_v4.conv_bn(x, stem, 3, 2, variant.activation,
                           ("conv_stem", "bn1"), STYLE)
    for i, stage in enumerate(variant.stages):
        for j, row in enumerate(stage):
            filters = _blocks.make_divisible(row.filters * cfg.alpha)
            x = row.add(x, filters, f"blocks_{i}_{j}", variant)
    return x


def _top(x, cfg):
    """MobileNetV3's efficient head (pool, then the wide 1x1 conv), with a
    BatchNorm after that conv as MobileNetV4 adds."""
    variant = VARIANTS[cfg.variant]
    x = layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    x = _blocks_v4.conv_bn(x, HEAD_FILTERS, 1, 1, variant.activation,
                           ("conv_head", "norm_head"), STYLE)
    x = layers.Flatten(name="flatten")(x)
    if cfg.dropout_rate > 0:
        x = layers.Dropout(cfg.dropout_rate, name="dropout")(x)
    return layers.Dense(cfg.classes, activation=cfg.classifier_activation,
                        name="classifier")(x)


def _normalizing_checkpoint(cfg):
    """The checkpoint whose mean and std the model normalises with: the one
    `weights` names, else the default of this alpha, else of alpha 1."""
    return (_v4_weights.checkpoint(cfg.variant, cfg.alpha, cfg.weights)
            or _v4_weights.checkpoint(cfg.variant, cfg.alpha, "imagenet")
            or _v4_weights.checkpoint(cfg.variant, 1.0, "imagenet"))


def _preprocessing(x, cfg):
    ckpt = _normalizing_checkpoint(cfg)
    return layers.Normalization(
        axis=_blocks.channel_axis(),
        mean=[255.0 * m for m in ckpt.mean],
        variance=[(255.0 * s) ** 2 for s in ckpt.std],
        name="normalization",
    )(x)


def _load_weights(model, cfg, kind, weights):
    ignore = () if cfg.include_top else HEAD_MODULES
    if kind in ("imagenet", "tag"):
        ckpt = _v4_weights.checkpoint(cfg.variant, cfg.alpha, weights)
        _v4_weights.load(model, ckpt, cfg.include_top, HEAD_MODULES)
    elif weights.lower().endswith(".safetensors"):
        # Imported here, not by the package, so that `python -m
        # keras_mobilenets.convert` runs a module not imported before.
        from . import convert

        convert.load_safetensors(model, weights, ignore)
    else:  # a Keras file, e.g. from `python -m keras_mobilenets.convert`
        arrays = weights_lib.read_weights_file(weights)
        if arrays is None:  # Keras 3 layout: the whole model, by structure
            weights_lib.load_weights(model, weights)
            return
        for name in ignore:  # by layer name: the top may be left out
            arrays.pop(name, None)
        weights_lib.assign_strict(model, arrays, os.path.basename(weights))


def _generation(key):
    variant = VARIANTS[key]

    def alphas(cfg):
        ckpt = _v4_weights.checkpoint(key, cfg.alpha, cfg.weights)
        if cfg.weights != "imagenet" and ckpt is not None:  # a tag
            return {ckpt.alpha}
        return {c.alpha for c in _v4_weights.CHECKPOINTS[key]}

    def sizes(cfg):  # those timm reports accuracy at: no warning for them
        ckpt = _v4_weights.checkpoint(key, cfg.alpha, cfg.weights)
        if ckpt is None:
            return ()
        return tuple(s for s in (ckpt.test_input_size, ckpt.input_size) if s)

    return Generation(
        name=variant.title,
        default_size=None,  # fully convolutional: (None, None, 3) by default
        weight_sizes=sizes,
        weight_alphas=alphas,
        body=_body,
        top=_top,
        model_name=lambda cfg, rows: variant.title,
        pool_names=("avg_pool", "max_pool"),
        preprocessing=_preprocessing,
        weight_tags=_v4_weights.tags(key),
        load_weights=_load_weights,
    )


GENERATIONS = {key: _generation(key) for key in VARIANTS}

_V4_ARGS = """
        dropout_rate: Dropout rate before the classifier. Defaults to 0.2.
        include_preprocessing: Normalise [0, 255] inputs inside the model with
            the mean and std of the checkpoint (`weights`; without one, those
            of the default checkpoint). Defaults to True."""


def _weights_note(key):
    lines = textwrap.wrap(
        "The weights are timm's ImageNet-1k checkpoints, downloaded from the "
        "Hugging Face hub and converted on first use (the conversion is "
        "cached). `weights` may also name one of these tags, or the path of "
        "a timm .safetensors checkpoint of this architecture (converted on "
        "load). Tag: alpha, training resolution, top-1 there.", 72)
    for c in _v4_weights.CHECKPOINTS[key]:
        default = " (`weights='imagenet'`)" if c is _v4_weights.checkpoint(
            key, c.alpha, "imagenet") else ""
        lines.append(f"- {c.tag!r}{default}: {c.alpha}, "
                     f"{c.input_size}x{c.input_size}, {c.top1}%.")
    lines += textwrap.wrap(
        "`alpha` rounds widths as timm does, and leaves the stem (when "
        "narrowing), the 1280-wide head and the attention heads unscaled.", 72)
    return "\n    ".join(lines)


def _public_builder(key):
    variant = VARIANTS[key]

    def builder(
        input_shape=None,
        alpha=1.0,
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        classes=1000,
        pooling=None,
        dropout_rate=0.2,
        classifier_activation="softmax",
        include_preprocessing=True,
        name=None,
    ):
        _args.check_bool("include_preprocessing", include_preprocessing)
        dropout_rate = _args.check_number(
            "dropout_rate", dropout_rate, 0.0, 1.0, include_low=True,
            include_high=False,
        )
        return build(
            GENERATIONS[key], variant=key, dropout_rate=dropout_rate,
            include_preprocessing=include_preprocessing,
            input_shape=input_shape, alpha=alpha, include_top=include_top,
            weights=weights, input_tensor=input_tensor, pooling=pooling,
            classes=classes, classifier_activation=classifier_activation,
            name=name,
        )

    builder.__name__ = builder.__qualname__ = variant.title
    builder.__doc__ = builder_doc(
        variant.title.replace("MobileNetV4", "MobileNetV4-"),
        "https://arxiv.org/abs/2404.10518", extra_args=_V4_ARGS,
        preprocessing="the model itself (`include_preprocessing=True`); "
        "`preprocess_input` is the identity",
        weights_note=_weights_note(key),
    )
    return builder


MobileNetV4ConvSmall = _public_builder("conv_small")
MobileNetV4ConvMedium = _public_builder("conv_medium")
MobileNetV4ConvLarge = _public_builder("conv_large")
MobileNetV4HybridMedium = _public_builder("hybrid_medium")
MobileNetV4HybridLarge = _public_builder("hybrid_large")
BUILDERS = {
    "conv_small": MobileNetV4ConvSmall,
    "conv_medium": MobileNetV4ConvMedium,
    "conv_large": MobileNetV4ConvLarge,
    "hybrid_medium": MobileNetV4HybridMedium,
    "hybrid_large": MobileNetV4HybridLarge,
}


def timm_name(key, alpha):
    """timm's architecture name, e.g. ("conv_small", 0.5) ->
    "mobilenetv4_conv_small_050"."""
    base = VARIANTS[key].timm_name
    return base if alpha == 1.0 else f"{base}_{round(alpha * 100):03d}"


# Every architecture timm registers: {timm name: (builder, alpha)}.
TIMM_NAMES = {
    timm_name(key, alpha): (BUILDERS[key], alpha)
    for key, variant in VARIANTS.items()
    for alpha in (1.0,) + variant.timm_alphas
}


def preprocess_input(x, data_format=None):
    """The identity: V4 models normalise their input themselves
    (`include_preprocessing=True`)."""
    return x


decode_predictions = imagenet.decode_predictions
