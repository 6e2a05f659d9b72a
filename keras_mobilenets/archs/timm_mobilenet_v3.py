"""timm's MobileNetV3 (`mobilenetv3_*`, `tf_mobilenetv3_*` of
timm/models/mobilenetv3.py), the networks of its checkpoints: Large and
Small in timm's conventions, the depth-scaled Large `150d`, the
`mobilenetv3_rw` of timm's first port, and the `tf_` ports of the TF-Slim
checkpoints (TensorFlow's padding and BatchNorm epsilon: keras.applications'
MobileNetV3 networks with timm's layer names; `minimal` is its
`minimalistic`).

Against keras.applications' MobileNetV3: timm's layer names, the expansion
ratios of timm's arch strings, a Dense classifier, and (but in the `tf_`
ports) timm's conventions (symmetric padding, BatchNorm epsilon 1e-5).
"""

import dataclasses

from .. import builder, registry
from ..spec import ConvBN, DepthwiseSeparable, InvertedResidual, Top
from ..spec import scale_depth
from ..checkpoints import IMAGENET, INCEPTION, ZERO_ONE, checkpoint
from . import _timm_v1_v3 as t

PAPER = "https://arxiv.org/abs/1905.02244"
SE = 0.25


def ds(stride, filters, se=False, act="relu", residual=True):
    """timm's `ds_r1_k3_s{stride}_e1_c{filters}[_se0.25][_nre]`."""
    return (DepthwiseSeparable(filters, stride, pw_act=False,
                               se=SE if se else 0.0, residual=residual,
                               act=act), 1)


def ir(repeats, kernel, stride, expand, filters, se=False, act="default"):
    """timm's `ir_r{repeats}_k{kernel}_s{stride}_e{expand}_c{filters}
    [_se0.25][_nre]` ("relu" for `_nre`, else the model's activation)."""
    return (InvertedResidual(kernel, expand, filters, stride,
                             se=SE if se else 0.0, act=act), repeats)


def cn(filters):
    """timm's `cn_r1_k1_s1_c{filters}`: the 1x1 conv before pooling."""
    return (ConvBN(1, 1, filters), 1)


RE = "relu"
# timm's `_gen_mobilenet_v3` arch_defs (the paper's Tables 1 and 2), one
# stage per line.
LARGE = (
    (ds(1, 16, act=RE),),
    (ir(1, 3, 2, 4.0, 24, act=RE), ir(1, 3, 1, 3.0, 24, act=RE)),
    (ir(3, 5, 2, 3.0, 40, se=True, act=RE),),
    (ir(1, 3, 2, 6.0, 80), ir(1, 3, 1, 2.5, 80), ir(2, 3, 1, 2.3, 80)),
    (ir(2, 3, 1, 6.0, 112, se=True),),
    (ir(3, 5, 2, 6.0, 160, se=True),),
    (cn(960),),
)
SMALL = (
    (ds(2, 16, se=True, act=RE),),
    (ir(1, 3, 2, 4.5, 24, act=RE), ir(1, 3, 1, 3.67, 24, act=RE)),
    (ir(1, 5, 2, 4.0, 40, se=True), ir(2, 5, 1, 6.0, 40, se=True)),
    (ir(2, 5, 1, 3.0, 48, se=True),),
    (ir(3, 5, 2, 6.0, 96, se=True),),
    (cn(576),),
)
# `_gen_mobilenet_v3_rw`: Large with no residual in the first block.
RW = ((ds(1, 16, act=RE, residual=False),),) + LARGE[1:]


def minimal(arch_def):
    """timm's `minimal` arch_defs: 3x3 kernels, no squeeze-excite, ReLU
    (the model's activation) everywhere; the last 1x1 conv unchanged."""
    def plain(row):
        if isinstance(row, ConvBN):
            return row
        return dataclasses.replace(row, kernel_size=3, se=0.0, act="default")

    return tuple(tuple((plain(row), n) for row, n in stage)
                 for stage in arch_def)


def _entry(name, title, arch_def, hidden, params, checkpoints,
           timm_names, test_alpha, conventions, depth=1.0,
           hidden_bias=True):
    return t.entry(
        name, title, PAPER,
        # timm leaves the stem at 16 below alpha 0.75 (`fix_stem`); the
        # 16 rounds to 16 at 0.75 to 1: "widen".
        stem=ConvBN(3, 2, 16, scale="widen"),
        stages=tuple(scale_depth(stage, depth) for stage in arch_def),
        # The efficient head: pool, the 1x1 `conv_head` (never scaled by
        # alpha) and its activation, a Dense classifier.
        top=Top(classifier="dense", hidden=hidden, hidden_bias=hidden_bias),
        conventions=conventions, params=params, checkpoints=checkpoints,
        timm_names=timm_names, test_alpha=test_alpha)


HS = dataclasses.replace(t.TIMM, activation="hard_swish")

LARGE_ENTRY = _entry(
    "TimmMobileNetV3Large", "MobileNetV3-Large, timm's network", LARGE, 1280,
    5_483_032, (
        checkpoint("mobilenetv3_large_100.ra_in1k", 1.0, 224, 0.875, IMAGENET, 75.784, default=True),
        checkpoint("mobilenetv3_large_100.ra4_e3600_r224_in1k", 1.0, 224, 0.95, INCEPTION, 76.310, (256, 1.0, 77.182)),
        checkpoint("mobilenetv3_large_100.miil_in21k_ft_in1k", 1.0, 224, 0.875, ZERO_ONE, 77.920, interpolation="bilinear"),
        checkpoint("mobilenetv3_large_100.miil_in21k", 1.0, 224, 0.875, ZERO_ONE, interpolation="bilinear", num_classes=11221),
    ), {"mobilenetv3_large_100": 1.0, "mobilenetv3_large_075": 0.75}, 0.75, HS)
LARGE_D150_ENTRY = _entry(
    "TimmMobileNetV3LargeD150",
    "MobileNetV3-Large 1.5 wide, 1.2 deep (timm's 150d)", LARGE, 1280,
    14_622_320, (
        checkpoint("mobilenetv3_large_150d.ra4_e3600_r256_in1k", 1.5, 256, 0.95, INCEPTION, 80.994, (320, 1.0, 81.832), interpolation="bilinear", default=True),
    ), {"mobilenetv3_large_150d": 1.5}, 0.75, HS, depth=1.2)
SMALL_ENTRY = _entry(
    "TimmMobileNetV3Small", "MobileNetV3-Small, timm's network", SMALL, 1024,
    2_542_856, (
        checkpoint("mobilenetv3_small_100.lamb_in1k", 1.0, 224, 0.875, IMAGENET, 67.636, default=True),
        checkpoint("mobilenetv3_small_050.lamb_in1k", 0.5, 224, 0.875, IMAGENET, 57.918, default=True),
        checkpoint("mobilenetv3_small_075.lamb_in1k", 0.75, 224, 0.875, IMAGENET, 65.284, default=True),
    ), {"mobilenetv3_small_100": 1.0, "mobilenetv3_small_050": 0.5,
        "mobilenetv3_small_075": 0.75}, 0.5, HS)
# timm's first MobileNetV3: TensorFlow's BatchNorm epsilon, squeeze-excite
# with the block's activation and a reduced width rounded by round(), no
# bias in the head conv.
RW_ENTRY = _entry(
    "TimmMobileNetV3RW", "MobileNetV3-Large, timm's first network (rw)", RW,
    1280, 5_479_918, (
        checkpoint("mobilenetv3_rw.rmsp_in1k", 1.0, 224, 0.875, IMAGENET, 75.616, default=True),
    ), {"mobilenetv3_rw": 1.0}, 0.75,
    dataclasses.replace(HS, bn_epsilon=1e-3, se_round="round", se_act=None),
    hidden_bias=False)


def _tf_port(name, what, rows, head, params, conventions, checkpoints):
    """A `tf_mobilenetv3_*` port: its checkpoints are the TF-Slim ones
    (`in1k`, 224, crop 0.875, bilinear, Inception's mean and std), one per
    width timm registers."""
    return _entry(name, f"{what}, timm's port of the TF-Slim checkpoints",
                  rows, head, params, checkpoints,
                  {c.model: c.alpha for c in checkpoints}, 0.75, conventions)


TF_SLIM = dict(interpolation="bilinear", default=True)
TF_RELU = dataclasses.replace(t.TF, activation="relu")
TF_LARGE_ENTRY = _tf_port(
    "TfMobileNetV3Large", "MobileNetV3-Large", LARGE, 1280, 5_483_032, t.TF, (
        checkpoint("tf_mobilenetv3_large_100.in1k", 1.0, 224, 0.875, INCEPTION, 75.510, **TF_SLIM),
        checkpoint("tf_mobilenetv3_large_075.in1k", 0.75, 224, 0.875, INCEPTION, 73.442, **TF_SLIM),
    ))
TF_LARGE_MINIMAL_ENTRY = _tf_port(
    "TfMobileNetV3LargeMinimal", "MobileNetV3-Large minimalistic",
    minimal(LARGE), 1280, 3_924_288, TF_RELU, (
        checkpoint("tf_mobilenetv3_large_minimal_100.in1k", 1.0, 224, 0.875, INCEPTION, 72.270, **TF_SLIM),
    ))
TF_SMALL_ENTRY = _tf_port(
    "TfMobileNetV3Small", "MobileNetV3-Small", SMALL, 1024, 2_542_856, t.TF, (
        checkpoint("tf_mobilenetv3_small_100.in1k", 1.0, 224, 0.875, INCEPTION, 67.922, **TF_SLIM),
        checkpoint("tf_mobilenetv3_small_075.in1k", 0.75, 224, 0.875, INCEPTION, 65.706, **TF_SLIM),
    ))
TF_SMALL_MINIMAL_ENTRY = _tf_port(
    "TfMobileNetV3SmallMinimal", "MobileNetV3-Small minimalistic",
    minimal(SMALL), 1024, 2_044_736, TF_RELU, (
        checkpoint("tf_mobilenetv3_small_minimal_100.in1k", 1.0, 224, 0.875, INCEPTION, 62.892, **TF_SLIM),
    ))


def TimmMobileNetV3Large(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(LARGE_ENTRY, **locals())


def TimmMobileNetV3LargeD150(
        input_shape=None, alpha=1.5, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(LARGE_D150_ENTRY, **locals())


def TimmMobileNetV3Small(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(SMALL_ENTRY, **locals())


def TimmMobileNetV3RW(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(RW_ENTRY, **locals())


def TfMobileNetV3Large(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(TF_LARGE_ENTRY, **locals())


def TfMobileNetV3LargeMinimal(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(TF_LARGE_MINIMAL_ENTRY, **locals())


def TfMobileNetV3Small(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(TF_SMALL_ENTRY, **locals())


def TfMobileNetV3SmallMinimal(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(TF_SMALL_MINIMAL_ENTRY, **locals())


registry.register(LARGE_ENTRY, TimmMobileNetV3Large)
registry.register(LARGE_D150_ENTRY, TimmMobileNetV3LargeD150)
registry.register(SMALL_ENTRY, TimmMobileNetV3Small)
registry.register(RW_ENTRY, TimmMobileNetV3RW)
registry.register(TF_LARGE_ENTRY, TfMobileNetV3Large)
registry.register(TF_LARGE_MINIMAL_ENTRY, TfMobileNetV3LargeMinimal)
registry.register(TF_SMALL_ENTRY, TfMobileNetV3Small)
registry.register(TF_SMALL_MINIMAL_ENTRY, TfMobileNetV3SmallMinimal)
