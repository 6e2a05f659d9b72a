"""MobileNet (V1): depthwise separable convolutions, width multiplier `alpha`.

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications", https://arxiv.org/abs/1704.04861. Layer names are those
of `keras.applications.MobileNet`, so its weight files load unchanged.
"""

from .. import arguments, builder, imagenet, naming, registry
from ..spec import Arch, Conventions, ConvBN, DepthwiseSeparable, Top, repeat
from ..checkpoints import INCEPTION, checkpoint
from ..weights import WeightFile


def ds(filters, stride):
    return DepthwiseSeparable(filters, stride)


# Table 1 of the paper: the 32-filter stride-2 stem, then 13 depthwise
# separable blocks (pointwise filters, stride), one stage per resolution.
ARCH = Arch(
    name="MobileNet",
    stem=ConvBN(3, 2, 32),
    stages=(
        (ds(64, 1),),
        (ds(128, 2), ds(128, 1)),
        (ds(256, 2), ds(256, 1)),
        repeat(6, ds(512, 2)),
        (ds(1024, 2), ds(1024, 1)),
    ),
    top=Top(classifier="conv", always_dropout=True),
    naming=naming.KERAS_V1,
    # keras.applications: BatchNormalization(epsilon=1e-3, momentum=0.99), one
    # row and column of zeros at the end before strided depthwise convs.
    conventions=Conventions(activation="relu6", bn_momentum=0.99,
                            padding="bottom_right"),
    width="floor",
)

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
ALPHA_TEXT = {0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"}


def _checkpoint(alpha, size):
    # keras.applications pins no hash for these files.
    files = [WeightFile(f, BASE_URL + f) for f in (
        f"mobilenet_{ALPHA_TEXT[alpha]}_{size}_tf{suffix}.h5"
        for suffix in ("", "_no_top"))]
    return checkpoint(f"mobilenet_{round(alpha * 100):03d}.r{size}_in1k",
                      alpha, size, 0.875, INCEPTION, files=files,
                      options={"depth_multiplier": 1})


CHECKPOINTS = tuple(_checkpoint(alpha, size) for alpha in ALPHA_TEXT
                    for size in (128, 160, 192, 224))

preprocess_input = imagenet.preprocess_input_tf

ENTRY = registry.keras_scaled_entry(
    "MobileNet", "mobilenet", preprocess_input,
    arch=ARCH,
    arguments=arguments.V1,
    title="MobileNet (V1)",
    paper="https://arxiv.org/abs/1704.04861",
    params=4_231_976,
    checkpoints=CHECKPOINTS,
    model_name="mobilenet_{alpha:0.2f}_{rows}",
    test_config=dict(alpha=0.25),
)


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3,
              include_top=True, weights="imagenet", input_tensor=None,
              pooling=None, classes=1000, classifier_activation="softmax",
              name=None, output_stride=32):
    return builder.build(ENTRY, **locals())


registry.register(ENTRY, MobileNet)
MobileNetV1 = MobileNet
