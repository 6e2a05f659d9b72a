"""Multi-scale feature maps for detection and segmentation heads (SSDLite,
DeepLabV3+, FPN): one map per stride 2, 4, 8, 16 and 32 of any MobileNet
(up to its `output_stride`).

The taps are recorded by the builder while it builds (`builder.body`) and
carried by the model (`Model.taps`, kept in its config): at each stride,
the output of the last block that runs at that resolution (timm's
`feature_location="bottleneck"`, its default for `features_only`, and
torchvision's MobileNet FPN backbones), so a map has the block's output
width, not an expansion's; stride 32 is the last layer of the network
without its top. A model that does not carry them (built by
keras.applications, or a `.keras` file of an earlier release) is
recognised by the blocks its layer names show, against the registry.
"""

import keras

from . import registry
from .blocks import DOWNSAMPLE_LAYERS
from .model import Model

STRIDES = (2, 4, 8, 16, 32)


def key(stride):
    """The output key of the map at `stride`, e.g. 8 -> "stride_8".

    Strings, not ints: a `.keras` file stores a dict's keys as JSON, so a
    model saved with int keys comes back with "8" and breaks `outputs[8]`.
    """
    return f"stride_{stride}"


def block_keys(arch):
    """The block keys of `arch` (see `naming.Naming.block_key`)."""
    keys, n = set(), 0
    for i, stage in enumerate(arch.stages):
        for j, _ in enumerate(stage):
            keys.add(arch.naming.key(i, j, n))
            n += 1
    return keys


_REFERENCE_TAPS = {}  # {(name, output_stride): (entry, taps)}


def _reference_taps(name, output_stride=32):
    """The taps of a small model of registry entry `name`, built once per
    entry and output stride (a name registered anew is built anew)."""
    entry = registry.get(name)
    cached = _REFERENCE_TAPS.get((name, output_stride))
    if cached is None or cached[0] is not entry:
        extra = {} if output_stride == 32 else {"output_stride": output_stride}
        model = entry.builder(weights=None, include_top=False,
                              **entry.test_config, **extra)
        cached = _REFERENCE_TAPS[(name, output_stride)] = (entry, model.taps)
    return cached[1]


def _output_stride(model):
    """32 over the largest dilation of `model`'s convolutions: with
    `output_stride` 16 (8) the blocks past the first dilated one run at
    dilation 2 (4), and every MobileNet has such blocks."""
    rates = [max(layer.dilation_rate) for layer in model.layers
             if hasattr(layer, "dilation_rate")]
    return 32 // max(rates, default=1)


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Expected a keras.Model built by keras_mobilenets. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )


def _downsampling(model):
    """The anti-aliased downsampling its layers show (a block layer named
    `..._aa`, `spec.Conventions.downsample`): "avg", "blur" or None."""
    for layer in model.layers:
        if layer.name.endswith("_aa"):
            for kind, cls in DOWNSAMPLE_LAYERS.items():
                if isinstance(layer, cls):
                    return kind
    return None


def _fingerprint(arch):
    """What tells apart networks with the same blocks (timm's V3-Large,
    its `rw`, its `tf_` port and that port's `minimal`; V1 and V1 `100h`):
    the stem's BatchNorm epsilon, whether blocks squeeze-excite, whether a
    conv follows the blocks, whether the stem pads explicitly."""
    se = any(getattr(row, "se", 0.0) for stage in arch.stages for row in stage)
    return (arch.conventions.bn_epsilon, se, arch.last_conv is not None,
            arch.conventions.pad_all)


def _model_fingerprint(model, naming, names):
    """`_fingerprint` of what `model`'s layers show, in `naming`'s names."""
    try:
        epsilon = model.get_layer(naming.fixed["stem_bn"]).epsilon
    except (KeyError, ValueError):
        return None
    template = naming.roles.get("se_reduce", naming.default)
    suffix = template.replace("{p}", "").format(role="se_reduce") \
        if template else None
    last = naming.fixed.get("last_bn")
    return (epsilon, bool(suffix) and any(suffix in n for n in names),
            last in names, naming.fixed["stem_conv"] + "_pad" in names)


def _fingerprints(entry):
    return {_fingerprint(entry.arch)} | {
        _fingerprint(variant(entry.arch)) for variant in entry.variants.values()}


def variant_of(model):
    """The registry name of `model`'s architecture (e.g. "MobileNetV2"),
    recognised by the blocks its layer names show (see
    `naming.Naming.block_key`) and its downsampling layers (which tell
    MobileNetV4ConvAALarge from ConvLarge), so neither the model's name nor
    its width, input size or top matters."""
    _check_model(model)
    names = [layer.name for layer in model.layers]
    downsampling = _downsampling(model)
    for name, entry in registry.ENTRIES.items():
        naming = entry.arch.naming
        if (naming.keys_in(names) == block_keys(entry.arch)
                and downsampling == entry.arch.conventions.downsample
                and _model_fingerprint(model, naming, names)
                in _fingerprints(entry)):
            return name
    raise ValueError(
        "Expected a MobileNet built by keras_mobilenets (one of "
        f"{', '.join(registry.ENTRIES)}), recognised by its layer names; this "
        "model's layers match none of them. If it wraps a MobileNet, pass that "
        f"inner model. Received: model={model.name!r} ({len(model.layers)} "
        "layers)"
    )


def feature_layers(model):
    """{stride: name of the layer whose output is the map at that stride},
    for the strides of `STRIDES` up to the model's output stride: the taps
    `model` carries, else those of the registry model its layer names
    show."""
    _check_model(model)
    taps = model.taps if isinstance(model, Model) else None
    if taps is None:
        taps = _reference_taps(variant_of(model), _output_stride(model))
        names = {layer.name for layer in model.layers}
        missing = sorted(set(taps.values()) - names)
        if missing:
            raise ValueError(
                f"{model.name!r} looks like a {variant_of(model)} but lacks "
                f"its feature layers {missing}. Received: model={model.name!r}"
            )
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
    config = model.data_config if isinstance(model, Model) else None
    return Model(inputs, outputs, name=name or f"{model.name}_features",
                 taps=layers, data_config=config)
