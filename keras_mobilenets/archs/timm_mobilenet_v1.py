"""timm's MobileNet V1 (`mobilenetv1_100`, `_125`, `_100h` of
timm/models/efficientnet.py), the network of its `ra4` checkpoints.

Against keras.applications' MobileNet: timm's conventions (symmetric
padding, BatchNorm epsilon 1e-5), the stem scaled and every width rounded
with make_divisible, a Dense classifier, and in `100h` a 1x1 conv head
(with BatchNorm and ReLU6) before pooling.
"""

from .. import builder, registry
from ..spec import ConvBN, DepthwiseSeparable, Top, scale_depth
from ..checkpoints import INCEPTION, checkpoint
from . import _timm_v1_v3 as t

PAPER = "https://arxiv.org/abs/1704.04861"


def dsa(filters, stride, repeats):
    """timm's `dsa_r{repeats}_k3_s{stride}_c{filters}`: depthwise separable,
    activation after the pointwise conv, no residual."""
    return (DepthwiseSeparable(filters, stride), repeats)


# timm's `_gen_mobilenet_v1` arch_def, one stage per line.
STAGES = tuple(scale_depth(stage) for stage in (
    (dsa(64, 1, 1),),
    (dsa(128, 2, 2),),
    (dsa(256, 2, 2),),
    (dsa(512, 2, 6),),
    (dsa(1024, 2, 2),),
))

_V1 = dict(paper=PAPER, stem=ConvBN(3, 2, 32), stages=STAGES,
           top=Top(classifier="dense"), conventions=t.TIMM)

V1_ENTRY = t.entry(
    "TimmMobileNetV1", "MobileNet (V1), timm's network", params=4_231_976,
    checkpoints=(
        checkpoint("mobilenetv1_100.ra4_e3600_r224_in1k", 1.0, 224, 0.875, INCEPTION, 75.388, (256, 0.95, 76.088), default=True),
        checkpoint("mobilenetv1_125.ra4_e3600_r224_in1k", 1.25, 224, 0.9, INCEPTION, 76.920, (256, 1.0, 77.612), default=True),
    ),
    timm_names={"mobilenetv1_100": 1.0, "mobilenetv1_125": 1.25},
    test_alpha=0.25, **_V1)

# `head_conv=True`: a 1x1 conv to 1024 (widened past alpha 1) before pooling.
V1H_ENTRY = t.entry(
    "TimmMobileNetV1H", "MobileNet (V1) with a conv head, timm's network",
    params=5_282_600,
    checkpoints=(
        checkpoint("mobilenetv1_100h.ra4_e3600_r224_in1k", 1.0, 224, 0.875, INCEPTION, 75.664, (256, 0.95, 76.598), default=True),
    ),
    timm_names={"mobilenetv1_100h": 1.0}, test_alpha=0.25,
    last_conv=ConvBN(1, 1, 1024, scale="widen"), **_V1)


def TimmMobileNetV1(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(V1_ENTRY, **locals())


def TimmMobileNetV1H(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0, include_pre_logits=False, output_stride=32):
    return builder.build(V1H_ENTRY, **locals())


registry.register(V1_ENTRY, TimmMobileNetV1)
registry.register(V1H_ENTRY, TimmMobileNetV1H)
