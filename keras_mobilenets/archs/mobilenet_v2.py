"""MobileNetV2: inverted residuals and linear bottlenecks.

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
https://arxiv.org/abs/1801.04381. Layer names are those of
`keras.applications.MobileNetV2`, so its weight files load unchanged.
"""

from .. import arguments, builder, imagenet, naming, registry
from ..spec import Arch, Conventions, ConvBN, InvertedResidual, Top, repeat
from ..checkpoints import INCEPTION, checkpoint
from ..weights import WeightFile


def stage(t, c, n, s):
    """A row of Table 2 of the paper: expansion t, output channels c,
    repeats n, stride s of the first repeat."""
    return repeat(n, InvertedResidual(3, t, c, s))


ARCH = Arch(
    name="MobileNetV2",
    # keras.applications rounds the stem's 32 * alpha, but the blocks'
    # int(c * alpha) (the "floor_divisible" width rule).
    stem=ConvBN(3, 2, 32, scale="divisible"),
    stages=(
        stage(1, 16, 1, 1),
        stage(6, 24, 2, 2),
        stage(6, 32, 3, 2),
        stage(6, 64, 4, 2) + stage(6, 96, 3, 1),
        stage(6, 160, 3, 2) + stage(6, 320, 1, 1),
    ),
    # The last conv is widened for alpha > 1 but never narrowed (paper, 3.4).
    last_conv=ConvBN(1, 1, 1280, scale="widen"),
    top=Top(classifier="dense"),
    naming=naming.KERAS_V2,
    conventions=Conventions(activation="relu6", padding="correct"),
    width="floor_divisible",
)

BASE_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
)


def _checkpoint(alpha, size):
    # keras.applications pins no hash for these files.
    files = [WeightFile(f, BASE_URL + f) for f in (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"
        f"{float(alpha)}_{size}{suffix}.h5" for suffix in ("", "_no_top"))]
    return checkpoint(f"mobilenet_v2_{round(alpha * 100):03d}.r{size}_in1k",
                      alpha, size, 0.875, INCEPTION, files=files)


# alpha 1.3 and 1.4 were published at 224 only.
CHECKPOINTS = tuple(
    _checkpoint(alpha, size) for alpha in (0.35, 0.5, 0.75, 1.0)
    for size in (96, 128, 160, 192, 224)
) + (_checkpoint(1.3, 224), _checkpoint(1.4, 224))

preprocess_input = imagenet.preprocess_input_tf

ENTRY = registry.keras_scaled_entry(
    "MobileNetV2", "mobilenet_v2", preprocess_input,
    arch=ARCH,
    arguments=arguments.V2,
    title="MobileNetV2",
    paper="https://arxiv.org/abs/1801.04381",
    params=3_504_872,
    checkpoints=CHECKPOINTS,
    model_name="mobilenetv2_{alpha:0.2f}_{rows}",
    test_config=dict(alpha=0.35),
)


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True,
                weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None,
                drop_path_rate=0.0, output_stride=32):
    return builder.build(ENTRY, **locals())


registry.register(ENTRY, MobileNetV2)
