"""timm's MobileNetV2 (`mobilenetv2_*` of timm/models/efficientnet.py), the
network of its `ra`/`lamb` checkpoints, and its depth-scaled `110d`/`120d`.

Against keras.applications' MobileNetV2: timm's conventions (symmetric
padding, BatchNorm epsilon 1e-5), every width rounded with make_divisible,
the `d` variants' repeats scaled by timm's depth rule with the stem, the
first and the last stage and the head fixed (`fix_stem_head`).
"""

from .. import builder, registry
from ..spec import ConvBN, DepthwiseSeparable, InvertedResidual, Top
from ..spec import scale_depth
from ..checkpoints import IMAGENET, checkpoint
from . import _timm_v1_v3 as t

PAPER = "https://arxiv.org/abs/1801.04381"


def ds(filters):
    """timm's `ds_r1_k3_s1_c{filters}`: depthwise separable with a linear
    pointwise conv (the paper's t=1 bottleneck), residual where widths
    allow."""
    return (DepthwiseSeparable(filters, 1, pw_act=False, residual=True), 1)


def ir(repeats, stride, filters):
    """timm's `ir_r{repeats}_k3_s{stride}_e6_c{filters}`."""
    return (InvertedResidual(3, 6.0, filters, stride), repeats)


# timm's `_gen_mobilenet_v2` arch_def (the paper's Table 2), one stage per line.
ARCH_DEF = (
    (ds(16),),
    (ir(2, 2, 24),),
    (ir(3, 2, 32),),
    (ir(4, 2, 64),),
    (ir(3, 1, 96),),
    (ir(3, 2, 160),),
    (ir(1, 1, 320),),
)


def stages(depth=1.0, fix_first_last=False):
    return tuple(
        scale_depth(stage, 1.0 if fix_first_last and i in (0, len(ARCH_DEF) - 1)
                    else depth) for i, stage in enumerate(ARCH_DEF))


def _entry(name, title, params, checkpoints, timm_names, test_alpha,
           depth=1.0):
    fixed = depth != 1.0  # the `d` variants fix the stem and the head
    scale = "fixed" if fixed else "widen"
    return t.entry(
        name, title, PAPER,
        stem=ConvBN(3, 2, 32, scale="fixed" if fixed else "alpha"),
        stages=stages(depth, fixed), top=Top(classifier="dense"),
        last_conv=ConvBN(1, 1, 1280, scale=scale), conventions=t.TIMM,
        params=params, checkpoints=checkpoints, timm_names=timm_names,
        test_alpha=test_alpha)


V2_ENTRY = _entry(
    "TimmMobileNetV2", "MobileNetV2, timm's network", 3_504_872,
    (
        checkpoint("mobilenetv2_100.ra_in1k", 1.0, 224, 0.875, IMAGENET, 72.910, default=True),
        checkpoint("mobilenetv2_050.lamb_in1k", 0.5, 224, 0.875, IMAGENET, 65.928, default=True),
        checkpoint("mobilenetv2_140.ra_in1k", 1.4, 224, 0.875, IMAGENET, 76.528, default=True),
    ),
    {"mobilenetv2_100": 1.0, "mobilenetv2_035": 0.35, "mobilenetv2_050": 0.5,
     "mobilenetv2_075": 0.75, "mobilenetv2_140": 1.4}, 0.35)
V2D110_ENTRY = _entry(
    "TimmMobileNetV2D110", "MobileNetV2 1.1 wide, 1.2 deep (timm's 110d)",
    4_516_520,
    (checkpoint("mobilenetv2_110d.ra_in1k", 1.1, 224, 0.875, IMAGENET, 75.056, default=True),),
    {"mobilenetv2_110d": 1.1}, 0.35, depth=1.2)
V2D120_ENTRY = _entry(
    "TimmMobileNetV2D120", "MobileNetV2 1.2 wide, 1.4 deep (timm's 120d)",
    5_831_144,
    (checkpoint("mobilenetv2_120d.ra_in1k", 1.2, 224, 0.875, IMAGENET, 77.300, default=True),),
    {"mobilenetv2_120d": 1.2}, 0.35, depth=1.4)


def TimmMobileNetV2(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(V2_ENTRY, **locals())


def TimmMobileNetV2D110(
        input_shape=None, alpha=1.1, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(V2D110_ENTRY, **locals())


def TimmMobileNetV2D120(
        input_shape=None, alpha=1.2, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(V2D120_ENTRY, **locals())


registry.register(V2_ENTRY, TimmMobileNetV2)
registry.register(V2D110_ENTRY, TimmMobileNetV2D110)
registry.register(V2D120_ENTRY, TimmMobileNetV2D120)
