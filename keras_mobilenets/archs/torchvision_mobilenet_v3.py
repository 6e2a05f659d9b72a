"""torchvision's MobileNetV3-Large (torchvision/models/mobilenetv3.py,
torchvision 0.29), the backbone of its `ssdlite320_mobilenet_v3_large`:
keras.applications' table (the paper's Table 1) in torchvision's
conventions and module names, with its `reduced_tail`.

Against keras.applications' MobileNetV3Large: symmetric padding of every
strided conv (PyTorch's), torchvision's layer names (`features_13_block_0_0`
for `features.13.block.0.0`), a Dense classifier after a hidden 1x1 conv
(torchvision's Linear layers), no pretrained classifier weights. Widths
equal torchvision's at alpha 1 (at other widths torchvision rounds each
expansion from the table, keras.applications from the input width).
"""

import dataclasses

from .. import arguments, builder, naming, registry
from ..spec import Arch, Conventions, ConvBN, Top
from .mobilenet_v3 import LARGE

# torchvision's MobileNetV3: BatchNorm eps 0.001, momentum 0.01 (Keras
# 0.99), PyTorch's symmetric padding `(k - 1) // 2` of every conv.
CONVENTIONS = Conventions(activation="hard_swish", bn_epsilon=1e-3,
                          bn_momentum=0.99, padding="symmetric", pad_all=True)


def reduced_tail(arch):
    """torchvision's `reduced_tail=True`: the output widths of the last
    stage halved from its strided block on (C4 of its `_mobilenet_v3_conf`;
    the expansions of the blocks after it halve with their inputs, at the
    same ratios), so the last conv (6x) and the top's hidden conv halve."""
    rows = arch.stages[0]
    c4 = max(i for i, r in enumerate(rows) if r.stride > 1)
    rows = rows[:c4] + tuple(dataclasses.replace(r, filters=r.filters // 2)
                             for r in rows[c4:])
    return dataclasses.replace(
        arch, stages=(rows,),
        top=dataclasses.replace(arch.top, hidden=arch.top.hidden // 2))


ARCH = Arch(
    name="TorchvisionMobileNetV3Large",
    stem=ConvBN(3, 2, 16),
    stages=(LARGE,),
    last_conv=ConvBN(1, 1, expand_ratio=6),
    # torchvision's classifier: pool, Linear(960, 1280) (a 1x1 conv here),
    # Hardswish, Dropout, Linear; the 1280 scaled by alpha.
    top=Top(classifier="dense", hidden=1280, hidden_scale="alpha"),
    naming=naming.torchvision_v3(len(LARGE)),
    conventions=CONVENTIONS,
    width="divisible",
    preprocessing="rescale",
)

ENTRY = registry.Entry(
    name="TorchvisionMobileNetV3Large",
    arch=ARCH,
    arguments=arguments.TORCHVISION_V3,
    defaults={"weights": None},
    title="MobileNetV3-Large, torchvision's network",
    paper="https://arxiv.org/abs/1905.02244",
    preprocess_input=registry.identity_preprocess,
    preprocessing_doc="the model itself (`include_preprocessing=True`: "
    "[0, 255] -> [-1, 1], as torchvision's SSDLite); `preprocess_input` is "
    "the identity",
    weights_note="No pretrained classifier: this is torchvision's network "
    "for its detection weights (`keras_mobilenets.detection.SSDLite`, which "
    "loads them). `weights` may be None or the path of a Keras weights "
    "file of this network.",
    params=5_483_032,
    variants={"reduced_tail": reduced_tail},
    model_name="TorchvisionMobileNetV3Large",
    test_config=dict(alpha=0.75),
)


def TorchvisionMobileNetV3Large(
        input_shape=None, alpha=1.0, include_top=True, weights=None,
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True,
        name=None, reduced_tail=False, drop_path_rate=0.0, output_stride=32):
    return builder.build(ENTRY, **locals())


registry.register(ENTRY, TorchvisionMobileNetV3Large)
