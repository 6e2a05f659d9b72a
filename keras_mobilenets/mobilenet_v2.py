"""MobileNetV2: inverted residuals and linear bottlenecks.

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
https://arxiv.org/abs/1801.04381. Layer names are those of
`keras.applications.MobileNetV2`, so its weight files load unchanged.
"""

from keras import layers

from . import _blocks
from . import imagenet
from ._builder import Generation, Style, build
from ._docs import builder_doc
from .weights import WeightFile

BASE_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
)

# Table 2 of the paper: expansion t, output channels c, repeats n, stride s of
# the first repeat (the others have stride 1).
STAGES = [
    # t, c, n, s
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
STEM_FILTERS = 32
LAST_FILTERS = 1280

STYLE = Style(
    bn_epsilon=1e-3,
    bn_momentum=0.999,
    pad_mode="correct",
    names={
        "expand": "expand", "expand_bn": "expand_BN", "expand_act": "expand_relu",
        "pad": "pad", "depthwise": "depthwise", "depthwise_bn": "depthwise_BN",
        "depthwise_act": "depthwise_relu", "project": "project",
        "project_bn": "project_BN", "add": "add",
    },
)


def _blocks_of(stages):
    """Unrolls stage rows into (expansion, channels, stride) per block."""
    for t, c, n, s in stages:
        for i in range(n):
            yield t, c, s if i == 0 else 1


def _body(x, cfg):
    x = _blocks.conv_bn_act(
        x, _blocks.make_divisible(STEM_FILTERS * cfg.alpha), 3, 2, "relu6",
        ("Conv1", "bn_Conv1", "Conv1_relu"), STYLE,
    )
    for block_id, (t, c, stride) in enumerate(_blocks_of(STAGES)):
        # keras.applications rounds int(c * alpha), not c * alpha.
        filters = _blocks.make_divisible(int(c * cfg.alpha))
        expanded = t * _blocks.channels(x) if block_id else None
        prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
        x = _blocks.inverted_residual(
            x, expanded, filters, 3, stride, "relu6", None, prefix, STYLE
        )
    # The last conv is widened for alpha > 1 but never narrowed (paper, 3.4).
    last = LAST_FILTERS
    if cfg.alpha > 1.0:
        last = _blocks.make_divisible(LAST_FILTERS * cfg.alpha)
    return _blocks.conv_bn_act(
        x, last, 1, 1, "relu6", ("Conv_1", "Conv_1_bn", "out_relu"), STYLE
    )


def _top(x, cfg):
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    return layers.Dense(
        cfg.classes, activation=cfg.classifier_activation, name="predictions"
    )(x)


ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)


def _weight_file(cfg, rows):
    suffix = "" if cfg.include_top else "_no_top"
    fname = (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"
        f"{float(cfg.alpha)}_{rows}{suffix}.h5"
    )
    # keras.applications pins no hash for these files.
    return WeightFile(fname, BASE_URL + fname)


GENERATION = Generation(
    name="MobileNetV2",
    default_size=224,
    # alpha 1.3 and 1.4 were published at 224 only.
    weight_sizes=lambda cfg: (224,) if cfg.alpha > 1 else (96, 128, 160, 192, 224),
    weight_alphas=lambda cfg: set(ALPHAS),
    body=_body,
    top=_top,
    weight_file=_weight_file,
    model_name=lambda cfg, rows: f"mobilenetv2_{cfg.alpha:0.2f}_{rows}",
)


def MobileNetV2(
    input_shape=None,
    alpha=1.0,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
):
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
    )


MobileNetV2.__doc__ = builder_doc(
    "MobileNetV2",
    "https://arxiv.org/abs/1801.04381",
    preprocessing="`keras_mobilenets.mobilenet_v2.preprocess_input` (scales "
    "pixels from [0, 255] to [-1, 1])",
    weights_note="ImageNet weights exist for alpha 0.35, 0.5, 0.75, 1.0 at "
    "input sizes 96, 128, 160, 192, 224, and for alpha 1.3 and 1.4 at 224.",
)
preprocess_input = imagenet.preprocess_input_tf
decode_predictions = imagenet.decode_predictions
