"""The legacy path: the record of a MobileNet that does not carry one (built
by keras.applications, a `.keras` file of an earlier release, or wrapped in
a plain `keras.Model`), recognised by the blocks its layer names show
against the registry and read off a small reference model built alike.
Models this package builds carry their record (`Model.feature_info`)."""

import dataclasses

import keras

from . import registry
from .blocks import DOWNSAMPLE_LAYERS, channels


def block_keys(arch):
    """The block keys of `arch` (see `naming.Naming.block_key`)."""
    keys, n = set(), 0
    for i, stage in enumerate(arch.stages):
        for j, _ in enumerate(stage):
            keys.add(arch.naming.key(i, j, n))
            n += 1
    return keys


_REFERENCE = {}  # {(name, output_stride): (entry, feature_info)}


def _reference(name, output_stride=32):
    """The record of a small model of registry entry `name`, built once per
    entry and output stride (a name registered anew is built anew)."""
    entry = registry.get(name)
    cached = _REFERENCE.get((name, output_stride))
    if cached is None or cached[0] is not entry:
        extra = {} if output_stride == 32 else {"output_stride": output_stride}
        model = entry.builder(weights=None, include_top=False,
                              **entry.test_config, **extra)
        cached = _REFERENCE[(name, output_stride)] = (entry,
                                                      model.feature_info)
    return cached[1]


def _output_stride(model):
    """32 over the largest dilation of `model`'s convolutions: with
    `output_stride` 16 (8) the blocks past the first dilated one run at
    dilation 2 (4), and every MobileNet has such blocks."""
    rates = [max(layer.dilation_rate) for layer in model.layers
             if hasattr(layer, "dilation_rate")]
    return 32 // max(rates, default=1)


def check_model(model):
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
    check_model(model)
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


def feature_info(model):
    """The record of `model` (`feature_info.Block`s): the reference model's
    of its variant and output stride, with `model`'s channels."""
    variant = variant_of(model)
    records = _reference(variant, _output_stride(model))
    present = {layer.name for layer in model.layers}
    missing = sorted({n for r in records for n in (r.output, r.expansion)
                      if n} - present)
    if missing:
        raise ValueError(
            f"{model.name!r} looks like a {variant} but lacks its feature "
            f"layers {missing}. Received: model={model.name!r}")
    return tuple(dataclasses.replace(
        r, channels=channels(model.get_layer(r.output).output))
        for r in records)
