"""Multi-scale feature maps for detection and segmentation heads (SSDLite,
DeepLabV3+, FPN): one map per stride 2, 4, 8, 16 and 32 of any MobileNet
(up to its `output_stride`).

They are read from the record the builder writes while it builds
(`Model.feature_info`, kept in its config): at each stride, the output of
the last block that runs at that resolution (timm's
`feature_location="bottleneck"`, its default for `features_only`, and
torchvision's MobileNet FPN backbones), so a map has the block's output
width, not an expansion's; stride 32 is the last layer of the network
without its top. A model that carries no record (built by
keras.applications, or a `.keras` file of an earlier release) goes the
legacy path (`legacy_features`).
"""

from . import feature_info as feature_info_lib
from . import legacy_features
from .legacy_features import variant_of  # noqa: F401
from .model import Model

STRIDES = (2, 4, 8, 16, 32)


def key(stride):
    """The output key of the map at `stride`, e.g. 8 -> "stride_8".

    Strings, not ints: a `.keras` file stores a dict's keys as JSON, so a
    model saved with int keys comes back with "8" and breaks `outputs[8]`.
    """
    return f"stride_{stride}"


def feature_info(model):
    """The record of `model`'s trunk (`feature_info.Block`s, in order): the
    one it carries, else the legacy path's (`legacy_features`)."""
    legacy_features.check_model(model)
    records = model.feature_info if isinstance(model, Model) else None
    return records or legacy_features.feature_info(model)


def feature_layers(model):
    """{stride: name of the layer whose output is the map at that stride},
    for the strides of `STRIDES` up to the model's output stride: the taps
    `model` carries, else those of the registry model its layer names
    show (`legacy_features`)."""
    legacy_features.check_model(model)
    taps = model.taps if isinstance(model, Model) else None
    if taps is None:
        taps = feature_info_lib.taps(legacy_features.feature_info(model))
    return {s: taps[s] for s in STRIDES if s in taps}


def feature_model(model, name=None):
    """A model returning `model`'s feature maps at strides 2, 4, 8, 16, 32
    (up to its `output_stride`: with 16, the last map is "stride_16").

    Args:
        model: A model built by any builder of this package, with any
            `alpha`, input shape (fixed or `(None, None, 3)`), top or pooling,
            and any `name`. The layers and weights are shared, not copied:
            training one trains the other.
        name: Name of the new model; defaults to `<model.name>_features`.

    Returns:
        A `keras_mobilenets.Model` (with `model`'s taps and data config)
        with `model`'s inputs whose output is a dict `{"stride_2": ...,
        "stride_4": ..., ..., "stride_32": ...}` (see `key`); the map at stride s has spatial size ceil(input size / s).
        At each stride it is the output of the last block at that resolution;
        stride 32 is the last layer before the top. Layers, channels at
        alpha 1:

        | model | 2 | 4 | 8 | 16 | 32 |
        |---|---|---|---|---|---|
        | MobileNet | conv_pw_1_relu 64 | conv_pw_3_relu 128 | conv_pw_5_relu 256 | conv_pw_11_relu 512 | conv_pw_13_relu 1024 |
        | MobileNetV2 | expanded_conv_project_BN 16 | block_2_add 24 | block_5_add 32 | block_12_add 96 | out_relu 1280 |
        | MobileNetV3Small | conv_act 16 | expanded_conv_project_bn 16 | expanded_conv_2_add 24 | expanded_conv_7_add 48 | conv_1_act 576 |
        | MobileNetV3Large | expanded_conv_add 16 | expanded_conv_2_add 24 | expanded_conv_5_add 40 | expanded_conv_11_add 112 | conv_1_act 960 |
        | MobileNetV4ConvSmall | bn1_act 32 | blocks_0_1_bn1_act 32 | blocks_1_1_bn1_act 64 | blocks_2_5_add 96 | blocks_4_0_bn1_act 960 |
        | MobileNetV4ConvMedium | bn1_act 32 | blocks_0_0_bn2 48 | blocks_1_1_add 80 | blocks_2_7_add 160 | blocks_4_0_bn1_act 960 |
        | MobileNetV4ConvLarge | bn1_act 24 | blocks_0_0_bn2 48 | blocks_1_1_add 96 | blocks_2_10_add 192 | blocks_4_0_bn1_act 960 |
        | MobileNetV4HybridMedium | bn1_act 32 | blocks_0_0_bn2 48 | blocks_1_1_add 80 | blocks_2_11_add 160 | blocks_4_0_bn1_act 960 |
        | MobileNetV4HybridLarge | bn1_act 24 | blocks_0_0_bn2 48 | blocks_1_1_add 96 | blocks_2_14_add 192 | blocks_4_0_bn1_act 960 |
        | MobileNetV4ConvAALarge | bn1_act 24 | blocks_0_0_bn2 48 | blocks_1_1_add 96 | blocks_2_10_add 192 | blocks_4_0_bn1_act 960 |
        | MobileNetV4ConvBlurMedium | bn1_act 32 | blocks_0_0_bn2 48 | blocks_1_1_add 80 | blocks_2_7_add 160 | blocks_4_0_bn1_act 960 |
        | TimmMobileNetV1 | blocks_0_0_bn2_act 64 | blocks_1_1_bn2_act 128 | blocks_2_1_bn2_act 256 | blocks_3_5_bn2_act 512 | blocks_4_1_bn2_act 1024 |
        | TimmMobileNetV1H | blocks_0_0_bn2_act 64 | blocks_1_1_bn2_act 128 | blocks_2_1_bn2_act 256 | blocks_3_5_bn2_act 512 | bn2_act 1024 |
        | TimmMobileNetV2 | blocks_0_0_bn2 16 | blocks_1_1_add 24 | blocks_2_2_add 32 | blocks_4_2_add 96 | bn2_act 1280 |
        | TimmMobileNetV2D110 | blocks_0_0_bn2 16 | blocks_1_2_add 24 | blocks_2_3_add 32 | blocks_4_3_add 104 | bn2_act 1280 |
        | TimmMobileNetV2D120 | blocks_0_0_bn2 24 | blocks_1_2_add 32 | blocks_2_4_add 40 | blocks_4_4_add 112 | bn2_act 1280 |
        | TimmMobileNetV3Large | blocks_0_0_add 16 | blocks_1_1_add 24 | blocks_2_2_add 40 | blocks_4_1_add 112 | blocks_6_0_bn1_act 960 |
        | TimmMobileNetV3LargeD150 | blocks_0_1_add 24 | blocks_1_2_add 40 | blocks_2_3_add 64 | blocks_4_2_add 168 | blocks_6_1_bn1_act 1440 |
        | TimmMobileNetV3Small | bn1_act 16 | blocks_0_0_bn2 16 | blocks_1_1_add 24 | blocks_3_1_add 48 | blocks_5_0_bn1_act 576 |
        | TimmMobileNetV3RW | blocks_0_0_bn2 16 | blocks_1_1_add 24 | blocks_2_2_add 40 | blocks_4_1_add 112 | blocks_6_0_bn1_act 960 |
        | TfMobileNetV3Large | blocks_0_0_add 16 | blocks_1_1_add 24 | blocks_2_2_add 40 | blocks_4_1_add 112 | blocks_6_0_bn1_act 960 |
        | TfMobileNetV3LargeMinimal | blocks_0_0_add 16 | blocks_1_1_add 24 | blocks_2_2_add 40 | blocks_4_1_add 112 | blocks_6_0_bn1_act 960 |
        | TfMobileNetV3Small | bn1_act 16 | blocks_0_0_bn2 16 | blocks_1_1_add 24 | blocks_3_1_add 48 | blocks_5_0_bn1_act 576 |
        | TfMobileNetV3SmallMinimal | bn1_act 16 | blocks_0_0_bn2 16 | blocks_1_1_add 24 | blocks_3_1_add 48 | blocks_5_0_bn1_act 576 |
        | TorchvisionMobileNetV3Large | features_1_add 16 | features_3_add 24 | features_6_add 40 | features_12_add 112 | features_16_2 960 |

    Raises:
        ValueError: `model` is not one of this package's MobileNets.
    """
    layers = feature_layers(model)
    outputs = {key(s): model.get_layer(name).output
               for s, name in layers.items()}
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    ours = isinstance(model, Model)
    return Model(inputs, outputs, name=name or f"{model.name}_features",
                 taps=layers, data_config=model.data_config if ours else None,
                 feature_info=model.feature_info if ours else None)
