"""Multi-scale feature maps for detection and segmentation heads (SSDLite,
DeepLabV3+, FPN): one map per stride 2, 4, 8, 16 and 32 of any MobileNet."""

import dataclasses
import re
import typing

import keras

STRIDES = (2, 4, 8, 16, 32)


def key(stride):
    """The output key of the map at `stride`, e.g. 8 -> "stride_8".

    Strings, not ints: a `.keras` file stores a dict's keys as JSON, so a
    model saved with int keys comes back with "8" and breaks `outputs[8]`.
    """
    return f"stride_{stride}"


@dataclasses.dataclass(frozen=True)
class Variant:
    """Where one architecture's feature maps are, and how to recognise it.

    `layers` has one layer name per stride. `blocks` matches the names of the
    layers of the model's blocks: group 1 names a group of blocks (a V4
    stage), group 2 a block's index in it; `counts` is how many distinct
    indices each group has in this architecture and in no other.
    """

    layers: typing.Mapping[int, str]
    blocks: str
    counts: typing.Mapping[str, int]


def _layers(*names):
    return dict(zip(STRIDES, names))


def _v4(stem, stage_0, stage_1, stage_2, stage_lengths):
    return Variant(
        _layers(stem, stage_0, stage_1, stage_2, "blocks_4_0_bn1_act"),
        r"^(blocks_\d+)_(\d+)_",
        {f"blocks_{i}": n for i, n in enumerate(stage_lengths)},
    )


# The rule: at each stride, the output of the last block that runs at that
# resolution (timm's `feature_location="bottleneck"`, its default for
# `features_only`, and torchvision's MobileNet FPN backbones), so a map has
# the block's output width, not an expansion's. Stride 32 is the last layer
# of the network without its top: what `include_top=False` returns.
# Where the stem is the only layer at stride 2, the stem's activation.
VARIANTS = {
    "MobileNet": Variant(
        _layers("conv_pw_1_relu", "conv_pw_3_relu", "conv_pw_5_relu",
                "conv_pw_11_relu", "conv_pw_13_relu"),
        r"^(conv_pw)_(\d+)_", {"conv_pw": 13},
    ),
    "MobileNetV2": Variant(
        _layers("expanded_conv_project_BN", "block_2_add", "block_5_add",
                "block_12_add", "out_relu"),
        r"^(block)_(\d+)_", {"block": 16},
    ),
    "MobileNetV3Small": Variant(
        _layers("conv_act", "expanded_conv_project_bn", "expanded_conv_2_add",
                "expanded_conv_7_add", "conv_1_act"),
        r"^(expanded_conv)_(\d+)_", {"expanded_conv": 10},
    ),
    "MobileNetV3Large": Variant(
        _layers("expanded_conv_add", "expanded_conv_2_add",
                "expanded_conv_5_add", "expanded_conv_11_add", "conv_1_act"),
        r"^(expanded_conv)_(\d+)_", {"expanded_conv": 14},
    ),
    "MobileNetV4ConvSmall": _v4("bn1_act", "blocks_0_1_bn1_act",
                                "blocks_1_1_bn1_act", "blocks_2_5_add",
                                (2, 2, 6, 6, 1)),
    "MobileNetV4ConvMedium": _v4("bn1_act", "blocks_0_0_bn2", "blocks_1_1_add",
                                 "blocks_2_7_add", (1, 2, 8, 11, 1)),
    "MobileNetV4ConvLarge": _v4("bn1_act", "blocks_0_0_bn2", "blocks_1_1_add",
                                "blocks_2_10_add", (1, 2, 11, 13, 1)),
    "MobileNetV4HybridMedium": _v4("bn1_act", "blocks_0_0_bn2",
                                   "blocks_1_1_add", "blocks_2_11_add",
                                   (1, 2, 12, 16, 1)),
    "MobileNetV4HybridLarge": _v4("bn1_act", "blocks_0_0_bn2",
                                  "blocks_1_1_add", "blocks_2_14_add",
                                  (1, 2, 15, 18, 1)),
}


def _block_counts(model, pattern):
    indices = {}
    for layer in model.layers:
        match = re.match(pattern, layer.name)
        if match:
            indices.setdefault(match.group(1), set()).add(match.group(2))
    return {group: len(found) for group, found in indices.items()}


def variant_of(model):
    """The architecture of `model` (a key of `VARIANTS`, e.g. "MobileNetV2"),
    recognised by the layer names and block counts of its blocks, so neither
    the model's name nor its width, input size or top matters."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Expected a keras.Model built by keras_mobilenets. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    names = {layer.name for layer in model.layers}
    for name, variant in VARIANTS.items():
        if (_block_counts(model, variant.blocks) == dict(variant.counts)
                and set(variant.layers.values()) <= names):
            return name
    raise ValueError(
        "Expected a MobileNet built by keras_mobilenets (one of "
        f"{', '.join(VARIANTS)}), recognised by its layer names; this model's "
        "layers match none of them. If it wraps a MobileNet, pass that inner "
        f"model. Received: model={model.name!r} ({len(model.layers)} layers)"
    )


def feature_layers(model):
    """{stride: name of the layer whose output is the map at that stride}."""
    return dict(VARIANTS[variant_of(model)].layers)


def feature_model(model, name=None):
    """A model returning `model`'s feature maps at strides 2, 4, 8, 16, 32.

    Args:
        model: A model built by any builder of this package, with any
            `alpha`, input shape (fixed or `(None, None, 3)`), top or pooling,
            and any `name`. The layers and weights are shared, not copied:
            training one trains the other.
        name: Name of the new model; defaults to `<model.name>_features`.

    Returns:
        A functional `keras.Model` with `model`'s inputs whose output is a
        dict `{"stride_2": ..., "stride_4": ..., ..., "stride_32": ...}` (see
        `key`); the map at stride s has spatial size ceil(input size / s).
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

    Raises:
        ValueError: `model` is not one of this package's MobileNets.
    """
    layers = feature_layers(model)
    outputs = {key(s): model.get_layer(layers[s]).output for s in STRIDES}
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=name or f"{model.name}_features")
