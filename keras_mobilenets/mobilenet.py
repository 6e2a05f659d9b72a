"""MobileNet (V1): depthwise separable convolutions, width multiplier `alpha`.

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications", https://arxiv.org/abs/1704.04861. Layer names are those
of `keras.applications.MobileNet`, so its weight files load unchanged.
"""

from keras import layers

from . import _args
from . import _blocks
from . import imagenet
from ._builder import Generation, Style, build
from ._docs import builder_doc
from .weights import WeightFile

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"

# Table 1 of the paper: (pointwise filters, stride) of the 13 depthwise
# separable blocks after the 32-filter stride-2 stem.
BLOCKS = [
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
]
STEM_FILTERS = 32

# keras.applications defaults: BatchNormalization(epsilon=1e-3, momentum=0.99),
# one row/column of zeros at the end before strided depthwise convs.
STYLE = Style(bn_epsilon=1e-3, bn_momentum=0.99, pad_mode="bottom_right")


def _body(x, cfg):
    x = _blocks.conv_bn_act(
        x, int(STEM_FILTERS * cfg.alpha), 3, 2, "relu6",
        ("conv1", "conv1_bn", "conv1_relu"), STYLE,
    )
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = _blocks.depthwise_bn_act(
            x, 3, stride, "relu6",
            tuple(f"conv_{part}_{block_id}" for part in ("pad", "dw")) +
            (f"conv_dw_{block_id}_bn", f"conv_dw_{block_id}_relu"),
            STYLE, multiplier=cfg.depth_multiplier,
        )
        x = _blocks.conv_bn_act(
            x, int(filters * cfg.alpha), 1, 1, "relu6",
            (f"conv_pw_{block_id}", f"conv_pw_{block_id}_bn",
             f"conv_pw_{block_id}_relu"), STYLE,
        )
    return x


def _top(x, cfg):
    x = layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    x = _blocks.conv(x, cfg.classes, 1, "conv_preds", use_bias=True)
    x = layers.Reshape((cfg.classes,), name="reshape_2")(x)
    return layers.Activation(cfg.classifier_activation, name="predictions")(x)


ALPHA_TEXT = {0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"}


def _weight_file(cfg, rows):
    suffix = "" if cfg.include_top else "_no_top"
    fname = f"mobilenet_{ALPHA_TEXT[cfg.alpha]}_{rows}_tf{suffix}.h5"
    # keras.applications pins no hash for these files.
    return WeightFile(fname, BASE_URL + fname)


GENERATION = Generation(
    name="MobileNet",
    default_size=224,
    weight_sizes=lambda cfg: (128, 160, 192, 224),
    weight_alphas=lambda cfg: set(ALPHA_TEXT),
    body=_body,
    top=_top,
    weight_file=_weight_file,
    model_name=lambda cfg, rows: f"mobilenet_{cfg.alpha:0.2f}_{rows}",
)


def MobileNet(
    input_shape=None,
    alpha=1.0,
    depth_multiplier=1,
    dropout=1e-3,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
):
    depth_multiplier = _args.check_int("depth_multiplier", depth_multiplier)
    if weights == "imagenet" and depth_multiplier != 1:
        raise ValueError(
            "ImageNet weights exist only for `depth_multiplier=1`. "
            f"Received: depth_multiplier={depth_multiplier}"
        )
    dropout = _args.check_number(
        "dropout", dropout, 0.0, 1.0, include_low=True, include_high=False
    )
    return build(
        GENERATION,
        input_shape=input_shape,
        alpha=alpha,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        depth_multiplier=depth_multiplier,
        dropout=dropout,
    )


MobileNet.__doc__ = builder_doc(
    "MobileNet (V1)",
    "https://arxiv.org/abs/1704.04861",
    extra_args="""
        depth_multiplier: Depth multiplier of the depthwise convolutions
            (channels out per channel in). ImageNet weights need 1.
        dropout: Dropout rate before the classifier. Defaults to 0.001.""",
    preprocessing="`keras_mobilenets.mobilenet.preprocess_input` (scales "
    "pixels from [0, 255] to [-1, 1])",
    weights_note="ImageNet weights exist for alpha 0.25, 0.5, 0.75, 1.0 at "
    "input sizes 128, 160, 192, 224.",
)
MobileNetV1 = MobileNet
preprocess_input = imagenet.preprocess_input_tf
decode_predictions = imagenet.decode_predictions
