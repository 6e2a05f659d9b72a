"""MobileNetV4: Universal Inverted Bottlenecks and Mobile multi-query attention.

Qin et al., "MobileNetV4: Universal Models for the Mobile Ecosystem",
https://arxiv.org/abs/2404.10518. The networks and weights are timm's
(`mobilenetv4_*` in timm/models/mobilenetv3.py); layer names are timm's module
paths (`blocks_2_1_dw_start_conv`), so its checkpoints convert mechanically
(`weights/timm.py`).

Checkpoints are timm 1.0.31's `pretrained_cfgs`; top-1 accuracies are timm's
results-imagenet.csv, at the training resolution (`input_size`, `crop_pct`)
and at the test resolution (`test_input_size`, `test_crop_pct`); the
ImageNet-12k heads (`*_in12k`, 11821 classes) have none. Every checkpoint
was trained with bicubic resizing.
"""

from .. import builder, naming, registry
from ..checkpoints import IMAGENET, INCEPTION, checkpoint
from ..spec import MQA, UIB, Arch, Conventions, ConvBN, FusedIB, Top, repeat


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
# `_gen_mobilenet_v4` arch strings; `repeat(n, row)` is n identical
# consecutive blocks (all at stride 1 here).
def with_mqa(attention, *rows):
    """`rows`, each after a copy of the `attention` row: the hybrid models
    put multi-query attention before these blocks of their conv twin."""
    return tuple(r for row in rows for r in (attention, row))


# Every variant's last stage: a 1x1 convolution to 960 channels.
LAST_STAGE = (conv_bn(1, 1, 960),)

CONV_SMALL = (
    (conv_bn(3, 2, 32), conv_bn(1, 1, 32)),
    (conv_bn(3, 2, 96), conv_bn(1, 1, 64)),
    (
        uib(5, 5, 2, 96, 3.0),  # ExtraDW
        *repeat(4, uib(0, 3, 1, 96, 2.0)),  # IB
        uib(3, 0, 1, 96, 4.0),  # ConvNeXt
    ),
    (
        uib(3, 3, 2, 128, 6.0),
        uib(5, 5, 1, 128, 4.0),
        uib(0, 5, 1, 128, 4.0),
        uib(0, 5, 1, 128, 3.0),
        *repeat(2, uib(0, 3, 1, 128, 4.0)),
    ),
    LAST_STAGE,
)



def first_stages(filters, expand_ratio):
    """The first two stages of the Medium and Large models: a FusedIB, then
    two UIBs of `filters` (the second expanding by `expand_ratio`)."""
    return (
        (fused_ib(3, 2, 48, 4.0),),
        (uib(3, 5, 2, filters, 4.0), uib(3, 3, 1, filters, expand_ratio)),
    )


# The rows both Medium models start their fourth stage with.
MEDIUM_STAGE_3_START = (
    uib(5, 5, 2, 256, 6.0),
    uib(5, 5, 1, 256, 4.0),
    *repeat(2, uib(3, 5, 1, 256, 4.0)),
)

CONV_MEDIUM = (
    *first_stages(80, 2.0),
    (
        uib(3, 5, 2, 160, 6.0),
        *repeat(2, uib(3, 3, 1, 160, 4.0)),
        uib(3, 5, 1, 160, 4.0),
        uib(3, 3, 1, 160, 4.0),
        uib(3, 0, 1, 160, 4.0),  # ConvNeXt
        uib(0, 0, 1, 160, 2.0),  # FFN
        uib(3, 0, 1, 160, 4.0),
    ),
    (
        *MEDIUM_STAGE_3_START,
        uib(0, 0, 1, 256, 4.0),
        uib(3, 0, 1, 256, 4.0),
        uib(3, 5, 1, 256, 2.0),
        uib(5, 5, 1, 256, 4.0),
        *repeat(2, uib(0, 0, 1, 256, 4.0)),
        uib(5, 0, 1, 256, 2.0),
    ),
    LAST_STAGE,
)

HYBRID_MEDIUM = (
    *first_stages(80, 2.0),
    (
        uib(3, 5, 2, 160, 6.0),
        uib(0, 0, 1, 160, 2.0),
        uib(3, 3, 1, 160, 4.0),
        uib(3, 5, 1, 160, 4.0),
        *with_mqa(
            mqa(4, 64, 2, 160),  # keys and values downsampled 2x
            uib(3, 3, 1, 160, 4.0),
            uib(3, 0, 1, 160, 4.0),
            uib(3, 3, 1, 160, 4.0),
            uib(3, 0, 1, 160, 4.0),
        ),
    ),
    (
        *MEDIUM_STAGE_3_START,
        uib(0, 0, 1, 256, 2.0),
        uib(3, 5, 1, 256, 2.0),
        uib(0, 0, 1, 256, 2.0),
        uib(0, 0, 1, 256, 4.0),
        *with_mqa(
            mqa(4, 64, 1, 256),
            uib(3, 0, 1, 256, 4.0),
            uib(5, 5, 1, 256, 4.0),
            uib(5, 0, 1, 256, 4.0),
            uib(5, 0, 1, 256, 4.0),
        ),
    ),
    LAST_STAGE,
)

# The rows the Large models (conv, anti-aliased and hybrid) start their third
# and fourth stages with.
LARGE_STAGE_2_START = (
    uib(3, 5, 2, 192, 4.0),
    *repeat(3, uib(3, 3, 1, 192, 4.0)),
    uib(3, 5, 1, 192, 4.0),
    *repeat(2, uib(5, 3, 1, 192, 4.0)),
)
# The last rows of the third stage: the hybrid puts attention before each.
LARGE_STAGE_2_END = (*repeat(3, uib(5, 3, 1, 192, 4.0)), uib(3, 0, 1, 192, 4.0))
LARGE_STAGE_3_START = (
    uib(5, 5, 2, 512, 4.0),
    *repeat(3, uib(5, 5, 1, 512, 4.0)),
    uib(5, 0, 1, 512, 4.0),
    uib(5, 3, 1, 512, 4.0),
    *repeat(2, uib(5, 0, 1, 512, 4.0)),
    uib(5, 3, 1, 512, 4.0),
    uib(5, 5, 1, 512, 4.0),
)

CONV_LARGE = (
    *first_stages(96, 4.0),
    (*LARGE_STAGE_2_START, *LARGE_STAGE_2_END),
    (*LARGE_STAGE_3_START, *repeat(3, uib(5, 0, 1, 512, 4.0))),
    LAST_STAGE,
)

HYBRID_LARGE = (
    *first_stages(96, 4.0),
    (*LARGE_STAGE_2_START, *with_mqa(mqa(8, 48, 2, 192), *LARGE_STAGE_2_END)),
    (
        *LARGE_STAGE_3_START,
        *with_mqa(mqa(8, 64, 1, 512), *repeat(4, uib(5, 0, 1, 512, 4.0))),
    ),
    LAST_STAGE,
)



IN12K = 11821  # classes of timm's ImageNet-12k heads (no ImageNet-1k top-1)

# Per variant, timm's `pretrained_cfgs` with timm's default tag of each
# alpha first (`default=True`: what `weights="imagenet"` loads).
CHECKPOINTS = {
    "conv_small": (
        # key, alpha, size, crop, (mean, std), top-1 at size, (test size, crop, top-1)
        checkpoint("mobilenetv4_conv_small.e2400_r224_in1k", 1.0, 224, 0.875, IMAGENET, 73.756, (256, 0.95, 74.644), default=True),
        checkpoint("mobilenetv4_conv_small.e1200_r224_in1k", 1.0, 224, 0.875, IMAGENET, 73.450, (256, 0.95, 74.282)),
        checkpoint("mobilenetv4_conv_small.e3600_r256_in1k", 1.0, 256, 0.95, INCEPTION, 74.534, (320, 1.0, 75.616)),
        checkpoint("mobilenetv4_conv_small_050.e3000_r224_in1k", 0.5, 224, 0.875, INCEPTION, 64.778, (256, 0.95, 65.826), default=True),
    ),
    "conv_medium": (
        checkpoint("mobilenetv4_conv_medium.e500_r256_in1k", 1.0, 256, 0.95, IMAGENET, 79.916, (320, 1.0, 80.890), default=True),
        checkpoint("mobilenetv4_conv_medium.e500_r224_in1k", 1.0, 224, 0.95, IMAGENET, 79.092, (256, 1.0, 79.836)),
        # Pre-trained on ImageNet-12k, fine-tuned on ImageNet-1k.
        checkpoint("mobilenetv4_conv_medium.e250_r384_in12k_ft_in1k", 1.0, 384, 0.95, IMAGENET, 82.776),
        # ImageNet-12k heads.
        checkpoint("mobilenetv4_conv_medium.e180_r384_in12k", 1.0, 384, 1.0, IMAGENET, num_classes=IN12K),
        checkpoint("mobilenetv4_conv_medium.e180_ad_r384_in12k", 1.0, 384, 1.0, IMAGENET, num_classes=IN12K),
        checkpoint("mobilenetv4_conv_medium.e250_r384_in12k", 1.0, 384, 1.0, IMAGENET, num_classes=IN12K),
    ),
    "conv_large": (
        checkpoint("mobilenetv4_conv_large.e600_r384_in1k", 1.0, 384, 0.95, IMAGENET, 82.974, (448, 1.0, 83.418), default=True),
        checkpoint("mobilenetv4_conv_large.e500_r256_in1k", 1.0, 256, 0.95, IMAGENET, 81.864, (320, 1.0, 82.672)),
    ),
    "hybrid_medium": (
        # Pre-trained on ImageNet-12k, fine-tuned on ImageNet-1k.
        checkpoint("mobilenetv4_hybrid_medium.e200_r256_in12k_ft_in1k", 1.0, 256, 0.95, IMAGENET, 82.360, (320, 1.0, 82.998), default=True),
        checkpoint("mobilenetv4_hybrid_medium.ix_e550_r256_in1k", 1.0, 256, 0.95, IMAGENET, 81.478, (320, 1.0, 82.500)),
        checkpoint("mobilenetv4_hybrid_medium.ix_e550_r384_in1k", 1.0, 384, 0.95, IMAGENET, 82.952, (448, 1.0, 83.390)),
        checkpoint("mobilenetv4_hybrid_medium.e500_r224_in1k", 1.0, 224, 0.95, IMAGENET, 80.432, (256, 1.0, 81.284)),
        checkpoint("mobilenetv4_hybrid_medium.e200_r256_in12k", 1.0, 256, 0.95, IMAGENET, test=(320, 1.0, None), num_classes=IN12K),
    ),
    "hybrid_large": (
        checkpoint("mobilenetv4_hybrid_large.ix_e600_r384_in1k", 1.0, 384, 0.95, IMAGENET, 83.996, (448, 1.0, 84.352), default=True),
        checkpoint("mobilenetv4_hybrid_large.e600_r384_in1k", 1.0, 384, 0.95, IMAGENET, 83.826, (448, 1.0, 84.264)),
    ),
    # timm's "experimental" variants: anti-aliased (avg) and blur-pooled.
    "conv_aa_large": (
        checkpoint("mobilenetv4_conv_aa_large.e230_r448_in12k_ft_in1k", 1.0, 448, 0.95, IMAGENET, 84.668, (544, 1.0, 84.990), default=True),
        checkpoint("mobilenetv4_conv_aa_large.e230_r384_in12k_ft_in1k", 1.0, 384, 0.95, IMAGENET, 84.314, (480, 1.0, 84.772)),
        checkpoint("mobilenetv4_conv_aa_large.e600_r384_in1k", 1.0, 384, 0.95, IMAGENET, 83.264, (480, 1.0, 83.826)),
        checkpoint("mobilenetv4_conv_aa_large.e230_r384_in12k", 1.0, 384, 0.95, IMAGENET, test=(448, 1.0, None), num_classes=IN12K),
    ),
    "conv_blur_medium": (
        checkpoint("mobilenetv4_conv_blur_medium.e500_r224_in1k", 1.0, 224, 0.95, IMAGENET, 79.446, (256, 1.0, 80.152), default=True),
    ),
}


preprocess_input = registry.identity_preprocess


# What V4's docstrings add to the weights note (`renderers.weights_note`).
ALPHA_NOTE = ("`alpha` rounds widths as timm does, and leaves the stem (when "
              "narrowing), the 1280-wide head and the attention heads "
              "unscaled.")


def _entry(key, title, stem_filters, activation, layer_scale, stages,
              params, test_alpha, timm_alphas=(), downsample=None):
    name = "MobileNetV4" + title.replace("-", "")
    checkpoints = CHECKPOINTS[key]
    arch = Arch(
        name=name,
        # timm scales the stem only when widening (`fix_stem=alpha < 1`).
        stem=ConvBN(3, 2, stem_filters, scale="widen"),
        stages=stages,
        # MobileNetV3's efficient head (pool, then the wide 1x1 conv, never
        # scaled by alpha), with a BatchNorm after that conv.
        top=Top(classifier="dense", hidden=1280, hidden_norm=True),
        naming=naming.TIMM,
        # timm's conventions: PyTorch BatchNorm defaults (eps 1e-5, momentum
        # 0.1, i.e. Keras momentum 0.9) and symmetric padding of every
        # strided convolution.
        conventions=Conventions(activation=activation, bn_epsilon=1e-5,
                                bn_momentum=0.9, padding="symmetric",
                                pad_all=True, layer_scale=layer_scale,
                                downsample=downsample),
        width="divisible",
        preprocessing="normalize",
    )
    return registry.self_normalising_entry(
        name, arch=arch, title="MobileNetV4-" + title,
        paper="https://arxiv.org/abs/2404.10518",
        weights_note=ALPHA_NOTE, params=params,
        checkpoints=checkpoints, test_config=dict(alpha=test_alpha),
        timm_name=f"mobilenetv4_{key}", timm_alphas=timm_alphas)


CONV_SMALL_ENTRY = _entry(
    "conv_small", "ConvSmall", 32, "relu", None, CONV_SMALL, 3_774_024, 0.5,
    timm_alphas=(0.35, 0.5))
CONV_MEDIUM_ENTRY = _entry(
    "conv_medium", "ConvMedium", 32, "relu", None, CONV_MEDIUM, 9_715_512,
    0.5)
CONV_LARGE_ENTRY = _entry(
    "conv_large", "ConvLarge", 24, "relu", None, CONV_LARGE, 32_590_864,
    0.25)
HYBRID_MEDIUM_ENTRY = _entry(
    "hybrid_medium", "HybridMedium", 32, "relu", 1e-5, HYBRID_MEDIUM,
    11_074_648, 0.5, timm_alphas=(0.75,))
# GELU in its exact (erf) form, as timm's nn.GELU.
HYBRID_LARGE_ENTRY = _entry(
    "hybrid_large", "HybridLarge", 24, "gelu", 1e-5, HYBRID_LARGE, 37_764_624,
    0.25, timm_alphas=(0.75,))
# timm's anti-aliased variants (`aa_layer`): the same rows, each strided
# block convolution at stride 1 followed by a downsampling layer.
CONV_AA_LARGE_ENTRY = _entry(
    "conv_aa_large", "ConvAALarge", 24, "relu", None, CONV_LARGE, 32_590_864,
    0.25, downsample="avg")
CONV_BLUR_MEDIUM_ENTRY = _entry(
    "conv_blur_medium", "ConvBlurMedium", 32, "relu", None, CONV_MEDIUM,
    9_715_512, 0.5, downsample="blur")


def MobileNetV4ConvSmall(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(CONV_SMALL_ENTRY, **locals())


def MobileNetV4ConvMedium(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(CONV_MEDIUM_ENTRY, **locals())


def MobileNetV4ConvLarge(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(CONV_LARGE_ENTRY, **locals())


def MobileNetV4HybridMedium(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(HYBRID_MEDIUM_ENTRY, **locals())


def MobileNetV4HybridLarge(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(HYBRID_LARGE_ENTRY, **locals())


def MobileNetV4ConvAALarge(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(CONV_AA_LARGE_ENTRY, **locals())


def MobileNetV4ConvBlurMedium(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(CONV_BLUR_MEDIUM_ENTRY, **locals())


registry.register(CONV_SMALL_ENTRY, MobileNetV4ConvSmall)
registry.register(CONV_MEDIUM_ENTRY, MobileNetV4ConvMedium)
registry.register(CONV_LARGE_ENTRY, MobileNetV4ConvLarge)
registry.register(HYBRID_MEDIUM_ENTRY, MobileNetV4HybridMedium)
registry.register(HYBRID_LARGE_ENTRY, MobileNetV4HybridLarge)
registry.register(CONV_AA_LARGE_ENTRY, MobileNetV4ConvAALarge)
registry.register(CONV_BLUR_MEDIUM_ENTRY, MobileNetV4ConvBlurMedium)
