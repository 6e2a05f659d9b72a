"""MobileNetV3 Small and Large: squeeze-excite, hard-swish, `minimalistic`.

Howard et al., "Searching for MobileNetV3", https://arxiv.org/abs/1905.02244.
Layer names are those of `keras.applications.MobileNetV3Small/Large`; the
official weight files (Keras 2 names such as "expanded_conv/depthwise/BatchNorm")
load through `weights.canonical_layer_name`.
"""

from keras import layers

from . import _args
from . import _blocks
from . import imagenet
from ._builder import Generation, Style, build
from ._docs import builder_doc
from .weights import WeightFile

BASE_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
)

# Tables 1 and 2 of the paper, as keras.applications encodes them: kernel size,
# expansion ratio (expanded / input channels), output channels, squeeze-excite,
# activation, stride. "K" is a 5x5 kernel, "SE" squeeze-excite and "HS"
# hard-swish; the minimalistic variants replace them by 3x3, no SE and ReLU.
SMALL = [
    # k, exp, out, se, act, s
    (3, 1, 16, "SE", "RE", 2),
    (3, 72 / 16, 24, None, "RE", 2),
    (3, 88 / 24, 24, None, "RE", 1),
    ("K", 4, 40, "SE", "HS", 2),
    ("K", 6, 40, "SE", "HS", 1),
    ("K", 6, 40, "SE", "HS", 1),
    ("K", 3, 48, "SE", "HS", 1),
    ("K", 3, 48, "SE", "HS", 1),
    ("K", 6, 96, "SE", "HS", 2),
    ("K", 6, 96, "SE", "HS", 1),
    ("K", 6, 96, "SE", "HS", 1),
]
LARGE = [
    # k, exp, out, se, act, s
    (3, 1, 16, None, "RE", 1),
    (3, 4, 24, None, "RE", 2),
    (3, 3, 24, None, "RE", 1),
    ("K", 3, 40, "SE", "RE", 2),
    ("K", 3, 40, "SE", "RE", 1),
    ("K", 3, 40, "SE", "RE", 1),
    (3, 6, 80, None, "HS", 2),
    (3, 2.5, 80, None, "HS", 1),
    (3, 2.3, 80, None, "HS", 1),
    (3, 2.3, 80, None, "HS", 1),
    (3, 6, 112, "SE", "HS", 1),
    (3, 6, 112, "SE", "HS", 1),
    ("K", 6, 160, "SE", "HS", 2),
    ("K", 6, 160, "SE", "HS", 1),
    ("K", 6, 160, "SE", "HS", 1),
]
VARIANTS = {"small": (SMALL, 1024), "large": (LARGE, 1280)}
STEM_FILTERS = 16
SE_RATIO = 0.25

STYLE = Style(
    bn_epsilon=1e-3,
    bn_momentum=0.999,
    pad_mode="correct",
    names={
        "expand": "expand", "expand_bn": "expand_bn", "expand_act": "expand_act",
        "pad": "depthwise_pad", "depthwise": "depthwise",
        "depthwise_bn": "depthwise_bn", "depthwise_act": "depthwise_act",
        "project": "project", "project_bn": "project_bn", "add": "add",
    },
)


def _act(code, minimalistic):
    return "hard_swish" if code == "HS" and not minimalistic else "relu"


def _body(x, cfg):
    rows, _ = VARIANTS[cfg.model_type]
    act = _act("HS", cfg.minimalistic)
    x = _blocks.conv_bn_act(
        x, STEM_FILTERS, 3, 2, act, ("conv", "conv_bn", "conv_act"), STYLE
    )
    for block_id, (k, exp, out, se, a, stride) in enumerate(rows):
        kernel = k if k != "K" else (3 if cfg.minimalistic else 5)
        se_ratio = SE_RATIO if se and not cfg.minimalistic else None
        expanded = None
        if block_id:
            expanded = _blocks.make_divisible(_blocks.channels(x) * exp)
        prefix = f"expanded_conv_{block_id}_" if block_id else "expanded_conv_"
        x = _blocks.inverted_residual(
            x, expanded, _blocks.make_divisible(out * cfg.alpha), kernel, stride,
            _act(a, cfg.minimalistic), se_ratio, prefix, STYLE,
        )
    return _blocks.conv_bn_act(
        x, _blocks.make_divisible(_blocks.channels(x) * 6), 1, 1, act,
        ("conv_1", "conv_1_bn", "conv_1_act"), STYLE,
    )


def _top(x, cfg):
    _, last_point = VARIANTS[cfg.model_type]
    if cfg.alpha > 1.0:  # widened for alpha > 1, never narrowed
        last_point = _blocks.make_divisible(last_point * cfg.alpha)
    act = _act("HS", cfg.minimalistic)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    x = _blocks.conv(x, last_point, 1, "conv_2", use_bias=True)
    x = _blocks.activation(x, act, "conv_2_act")
    if cfg.dropout_rate > 0:
        x = layers.Dropout(cfg.dropout_rate, name="dropout")(x)
    x = _blocks.conv(x, cfg.classes, 1, "logits", use_bias=True)
    x = layers.Flatten(name="flatten")(x)
    return layers.Activation(cfg.classifier_activation, name="predictions")(x)


def _preprocessing(x, cfg):
    return layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name="rescaling")(x)


# MD5 hashes pinned by keras.applications: (with top, without top).
WEIGHTS_HASHES = {
    "large_224_0.75_float": (
        "765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": (
        "59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": (
        "675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": (
        "cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": (
        "8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": (
        "99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}


def _weight_file(cfg, rows):
    key = "{}{}_224_{}_float".format(
        cfg.model_type, "_minimalistic" if cfg.minimalistic else "", cfg.alpha
    )
    with_top, no_top = WEIGHTS_HASHES[key]
    if cfg.include_top:
        return WeightFile(f"weights_mobilenet_v3_{key}.h5",
                          BASE_URL + f"weights_mobilenet_v3_{key}.h5", with_top)
    fname = f"weights_mobilenet_v3_{key}_no_top_v2.h5"
    return WeightFile(fname, BASE_URL + fname, no_top)


def _generation(title):
    return Generation(
        name=title,
        default_size=None,  # fully convolutional: (None, None, 3) by default
        weight_sizes=lambda cfg: (224,),
        weight_alphas=lambda cfg: {1.0} if cfg.minimalistic else {0.75, 1.0},
        body=_body,
        top=_top,
        weight_file=_weight_file,
        model_name=lambda cfg, rows: title,
        pool_names=("avg_pool", "max_pool"),
        preprocessing=_preprocessing,
    )


GENERATIONS = {"small": _generation("MobileNetV3Small"),
               "large": _generation("MobileNetV3Large")}


def _build(model_type, minimalistic, dropout_rate, include_preprocessing, **kw):
    _args.check_bool("minimalistic", minimalistic)
    _args.check_bool("include_preprocessing", include_preprocessing)
    dropout_rate = _args.check_number(
        "dropout_rate", dropout_rate, 0.0, 1.0, include_low=True,
        include_high=False,
    )
    return build(
        GENERATIONS[model_type], model_type=model_type,
        minimalistic=minimalistic, dropout_rate=dropout_rate,
        include_preprocessing=include_preprocessing, **kw,
    )


def MobileNetV3Small(
    input_shape=None,
    alpha=1.0,
    minimalistic=False,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="MobileNetV3Small",
):
    return _build(
        "small", minimalistic, dropout_rate, include_preprocessing,
        input_shape=input_shape, alpha=alpha, include_top=include_top,
        weights=weights, input_tensor=input_tensor, pooling=pooling,
        classes=classes, classifier_activation=classifier_activation, name=name,
    )


def MobileNetV3Large(
    input_shape=None,
    alpha=1.0,
    minimalistic=False,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="MobileNetV3Large",
):
    return _build(
        "large", minimalistic, dropout_rate, include_preprocessing,
        input_shape=input_shape, alpha=alpha, include_top=include_top,
        weights=weights, input_tensor=input_tensor, pooling=pooling,
        classes=classes, classifier_activation=classifier_activation, name=name,
    )


_V3_ARGS = """
        minimalistic: Use the minimalistic variant: 3x3 kernels, ReLU, no
            squeeze-excite (faster on some hardware). ImageNet weights exist
            for alpha 1.0 only.
        dropout_rate: Dropout rate before the logits. Defaults to 0.2.
        include_preprocessing: Rescale [0, 255] inputs to [-1, 1] inside the
            model. Defaults to True."""
for _fn, _title in ((MobileNetV3Small, "MobileNetV3-Small"),
                    (MobileNetV3Large, "MobileNetV3-Large")):
    _fn.__doc__ = builder_doc(
        _title, "https://arxiv.org/abs/1905.02244", extra_args=_V3_ARGS,
        preprocessing="the model itself (`include_preprocessing=True`); "
        "`preprocess_input` is the identity",
        weights_note="ImageNet weights exist for alpha 0.75 and 1.0 (1.0 when "
        "minimalistic), trained at 224x224.",
    )


def preprocess_input(x, data_format=None):
    """The identity: V3 models rescale their input themselves
    (`include_preprocessing=True`), as in keras.applications."""
    return x


decode_predictions = imagenet.decode_predictions
