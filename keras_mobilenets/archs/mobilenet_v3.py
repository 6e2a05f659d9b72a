"""MobileNetV3 Small and Large: squeeze-excite, hard-swish, `minimalistic`.

Howard et al., "Searching for MobileNetV3", https://arxiv.org/abs/1905.02244.
Layer names are those of `keras.applications.MobileNetV3Small/Large`; the
official weight files (Keras 2 names such as "expanded_conv/depthwise/BatchNorm")
load through `weights.canonical_layer_name`.
"""

import dataclasses

from .. import arguments, builder, naming, registry
from ..spec import Arch, Conventions, ConvBN, InvertedResidual, Top
from ..checkpoints import INCEPTION, checkpoint
from ..weights import WeightFile

SE = 0.25  # squeeze to a quarter of the expanded width


def bneck(kernel_size, expanded, out, se, act, stride, in_channels):
    """A row of Tables 1 and 2 of the paper: kernel, expansion size, output
    channels, squeeze-excite, activation ("RE" ReLU, "HS" hard-swish, the
    model's), stride; as keras.applications, the expansion is a ratio of
    the input width."""
    return InvertedResidual(kernel_size, expanded / in_channels, out, stride,
                            se=SE if se else 0.0,
                            act="relu" if act == "RE" else "default")


def _table(stem, rows):
    """Rows (k, exp size, out, SE, NL, s) chained by their input widths."""
    out, widths = [], stem
    for k, exp, c, se, nl, s in rows:
        out.append(bneck(k, exp, c, se, nl, s, widths))
        widths = c
    return tuple(out)


# Table 2 of the paper (MobileNetV3-Small).
SMALL = _table(16, [
    # k, exp, out, SE, NL, s
    (3, 16, 16, True, "RE", 2),
    (3, 72, 24, False, "RE", 2),
    (3, 88, 24, False, "RE", 1),
    (5, 96, 40, True, "HS", 2),
    (5, 240, 40, True, "HS", 1),
    (5, 240, 40, True, "HS", 1),
    (5, 120, 48, True, "HS", 1),
    (5, 144, 48, True, "HS", 1),
    (5, 288, 96, True, "HS", 2),
    (5, 576, 96, True, "HS", 1),
    (5, 576, 96, True, "HS", 1),
])
# Table 1 of the paper (MobileNetV3-Large).
LARGE = _table(16, [
    (3, 16, 16, False, "RE", 1),
    (3, 64, 24, False, "RE", 2),
    (3, 72, 24, False, "RE", 1),
    (5, 72, 40, True, "RE", 2),
    (5, 120, 40, True, "RE", 1),
    (5, 120, 40, True, "RE", 1),
    (3, 240, 80, False, "HS", 2),
    (3, 200, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 480, 112, True, "HS", 1),
    (3, 672, 112, True, "HS", 1),
    (5, 672, 160, True, "HS", 2),
    (5, 960, 160, True, "HS", 1),
    (5, 960, 160, True, "HS", 1),
])


def _arch(name, rows, last_point):
    return Arch(
        name=name,
        stem=ConvBN(3, 2, 16, scale="fixed"),
        stages=(rows,),
        last_conv=ConvBN(1, 1, expand_ratio=6),
        # The efficient last stage: pool, then the wide 1x1 conv (with bias),
        # widened for alpha > 1, never narrowed.
        top=Top(classifier="conv", hidden=last_point, hidden_scale="widen"),
        naming=naming.KERAS_V3,
        conventions=Conventions(activation="hard_swish", padding="correct"),
        width="divisible",
        preprocessing="rescale",
    )


def minimalistic(arch):
    """The minimalistic variant: 3x3 kernels, ReLU, no squeeze-excite."""
    rows = tuple(dataclasses.replace(r, kernel_size=3, se=0.0, act="relu")
                 for r in arch.stages[0])
    return dataclasses.replace(
        arch, stages=(rows,),
        conventions=dataclasses.replace(arch.conventions, activation="relu"))


BASE_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
)

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


def _checkpoints(model_type):
    out = []
    for alpha, minimal in ((0.75, False), (1.0, False), (1.0, True)):
        key = "{}{}_224_{}_float".format(
            model_type, "_minimalistic" if minimal else "", alpha)
        with_top, no_top = WEIGHTS_HASHES[key]
        files = (f"weights_mobilenet_v3_{key}.h5",
                 f"weights_mobilenet_v3_{key}_no_top_v2.h5")
        out.append(checkpoint(
            f"mobilenet_v3_{model_type}{'_minimalistic' if minimal else ''}"
            f"_{round(alpha * 100):03d}.r224_in1k", alpha, 224, 0.875,
            INCEPTION, files=(
                WeightFile(files[0], BASE_URL + files[0], with_top),
                WeightFile(files[1], BASE_URL + files[1], no_top)),
            options={"minimalistic": minimal}))
    return tuple(out)


def preprocess_input(x, data_format=None):
    """The identity: V3 models rescale their input themselves
    (`include_preprocessing=True`), as in keras.applications."""
    return x


def _entry(name, title, rows, last_point, model_type, params, alpha):
    return registry.Entry(
        name=name,
        arch=_arch(name, rows, last_point),
        arguments=arguments.V3,
        defaults={"name": name},
        title=title,
        paper="https://arxiv.org/abs/1905.02244",
        preprocess_input=preprocess_input,
        preprocessing_doc="the model itself (`include_preprocessing=True`: "
        "[0, 255] -> [-1, 1]); `preprocess_input` is the identity",
        params=params,
        checkpoints=_checkpoints(model_type),
        variants={"minimalistic": minimalistic},
        model_name=name,
        test_config=dict(alpha=alpha),
    )


SMALL_ENTRY = _entry("MobileNetV3Small", "MobileNetV3-Small", SMALL, 1024,
                     "small", 2_542_856, 0.75)
LARGE_ENTRY = _entry("MobileNetV3Large", "MobileNetV3-Large", LARGE, 1280,
                     "large", 5_483_032, 0.75)


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False,
                     include_top=True, weights="imagenet", input_tensor=None,
                     classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax",
                     include_preprocessing=True, name="MobileNetV3Small",
                     drop_path_rate=0.0, output_stride=32):
    return builder.build(SMALL_ENTRY, **locals())


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False,
                     include_top=True, weights="imagenet", input_tensor=None,
                     classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax",
                     include_preprocessing=True, name="MobileNetV3Large",
                     drop_path_rate=0.0, output_stride=32):
    return builder.build(LARGE_ENTRY, **locals())


registry.register(SMALL_ENTRY, MobileNetV3Small)
registry.register(LARGE_ENTRY, MobileNetV3Large)
