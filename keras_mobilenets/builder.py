"""The one builder: any `spec.Arch` plus the user's arguments -> a
functional `keras_mobilenets.Model`, with its weights and facts.

The global rules live here, once: how `alpha` scales widths (the arch's
`width` rule), the top, and the record of the trunk, written block by block
while the model is built (`feature_info.Block`: stride, output, channels,
expansion) and carried by the model (`Model.feature_info`, and its `taps`).
The arguments are checked by `arguments.check`; what `weights=` names is
`weights.resolve`'s, asked once per model.
"""

import contextlib
import dataclasses

import keras
from keras import layers

from . import arguments
from . import blocks
from . import feature_info
from . import spec
from . import weights as weights_lib
from ._placeholders import placeholder_weights
from .model import Model


@dataclasses.dataclass(frozen=True)
class Options:
    """The user's arguments after `arguments.check`: one field per option
    of `arguments.ARGUMENTS` (`Argument.option`, else the argument's name),
    at its `absent` value where the builder does not take the argument, and
    the input `shape` without batch with its `rows` and `cols`.
    `tests/test_registry.py` holds these fields to `ARGUMENTS`."""

    input_shape: object = None
    alpha: float = 1.0
    depth_multiplier: int = 1
    dropout: float = 0.0  # `dropout` (V1) and `dropout_rate` (V3, V4)
    minimalistic: bool = False
    include_top: bool = True
    weights: object = "imagenet"
    input_tensor: object = None
    pooling: object = None
    classes: int = 1000
    classifier_activation: object = "softmax"
    include_preprocessing: bool = False
    name: object = None
    drop_path_rate: float = 0.0
    include_pre_logits: bool = False
    reduced_tail: bool = False
    output_stride: int = 32
    shape: object = None
    rows: object = None
    cols: object = None


def scale_width(filters, alpha, rule):
    """A row's width at `alpha` by the arch's `width` rule (`spec.Arch`)."""
    if rule == "floor":
        return int(filters * alpha)
    if rule == "floor_divisible":
        return blocks.make_divisible(int(filters * alpha))
    return blocks.make_divisible(filters * alpha)


def conv_width(row, alpha, rule, in_channels):
    """The width of a `spec.ConvBN` or the top's hidden conv."""
    if row.expand_ratio is not None:
        return blocks.make_divisible(in_channels * row.expand_ratio)
    if row.scale == "fixed" or (row.scale == "widen" and alpha <= 1.0):
        return row.filters
    if row.scale == "widen":
        return blocks.make_divisible(row.filters * alpha)
    return scale_width(row.filters, alpha, rule if row.scale == "alpha"
                       else row.scale)


def _fixed_namer(naming, prefix):
    """Names the roles of a conv-BN-act outside blocks (`stem`, `last`)
    from the naming's fixed names."""
    roles = {"conv": f"{prefix}_conv", "bn1": f"{prefix}_bn",
             "bn1_act": f"{prefix}_act"}

    def name(role):
        if role.endswith("_pad"):
            return name(role[:-len("_pad")]) + "_pad"
        return naming.fixed[roles[role]]

    return name


def _act(arch, act):
    return arch.conventions.activation if act == "default" else act


def add_row(x, row, alpha, arch, names, depth_multiplier=1, drop_rate=0.0,
            dilation=1, in_block=True):
    """Adds the block of one row at its scaled width (`drop_rate`: the
    stochastic depth of its residual branch, where it has one; `dilation`:
    of its convolutions larger than 1x1; `in_block`: False for the stem and
    the last conv, which are never anti-aliased)."""
    style, act = arch.conventions, _act(arch, getattr(row, "act", "default"))
    if isinstance(row, spec.ConvBN):
        filters = conv_width(row, alpha, arch.width, blocks.channels(x))
        return blocks.conv_bn_act(x, filters, row.kernel_size, row.stride, act,
                                  names, style, dilation, anti_alias=in_block,
                                  use_bias=row.bias)
    filters = scale_width(row.filters, alpha, arch.width)
    if isinstance(row, spec.DepthwiseSeparable):
        return blocks.depthwise_separable(x, filters, row.kernel_size,
                                          row.stride, act, names, style,
                                          depth_multiplier, dilation,
                                          row.pw_act, row.se, row.residual,
                                          drop_rate)
    if isinstance(row, spec.InvertedResidual):
        return blocks.inverted_residual(x, filters, row.kernel_size,
                                        row.stride, row.expand_ratio, act,
                                        row.se, names, style, drop_rate,
                                        dilation)
    if isinstance(row, spec.FusedIB):
        return blocks.fused_inverted_bottleneck(
            x, filters, row.kernel_size, row.stride, row.expand_ratio, act,
            names, style, drop_rate, dilation)
    if isinstance(row, spec.UIB):
        return blocks.universal_inverted_bottleneck(
            x, filters, row.start_dw_kernel, row.mid_dw_kernel, row.stride,
            row.expand_ratio, act, style.layer_scale, names, style, drop_rate,
            dilation)
    if isinstance(row, spec.MQA):
        return blocks.mobile_mqa(
            x, filters, row.num_heads, row.key_dim, row.key_dim, row.kv_stride,
            row.kv_dw_kernel, style.layer_scale, names, style, drop_rate,
            dilation)
    raise TypeError(f"Unknown row type {type(row).__name__}: {row!r}")


def _layer_name(x):
    return x._keras_history.operation.name


def expansion_role(row):
    """The role of the layer whose output is `row`'s expanded map before
    any strided conv (`feature_info.Block.expansion`), or None."""
    if isinstance(row, spec.InvertedResidual) and row.expand_ratio != 1:
        return "expand_act"
    if isinstance(row, spec.UIB) and (row.mid_dw_kernel or row.stride == 1):
        return "pw_exp_bn_act"
    return None


def _record(x, stride, names=None, row=None):
    """The `feature_info.Block` of the block just built, its output `x`."""
    role = row is not None and expansion_role(row)
    return feature_info.Block(stride, _layer_name(x), blocks.channels(x),
                              blocks.namer(names)(role) if role else None)


def dilate(row, stride, dilation, output_stride):
    """timm's rule (`EfficientNetBuilder._make_stack`) for a row entered at
    `stride` and `dilation`: a stride that would pass `output_stride` becomes
    1 and the dilation grows by it, from the next row on (this row keeps the
    previous dilation, as timm and torchvision's ResNets do). Returns the row
    to build, its dilation, and the stride and dilation after it."""
    if row.stride > 1 and stride * row.stride > output_stride:
        return (dataclasses.replace(row, stride=1), dilation, stride,
                dilation * row.stride)
    return row, dilation, stride * row.stride, dilation


def body(x, arch, alpha, depth_multiplier=1, drop_path_rate=0.0,
         output_stride=32):
    """Stem, stages, last conv and neck: the model without its top. Returns
    the output and the record of the trunk (`feature_info.Block`s, in order:
    stem, blocks, last conv; the neck reads them and adds none), at the real
    strides (none past `output_stride`; see `dilate`).

    Stochastic depth grows linearly over the blocks, timm's schedule:
    block n of N drops its residual branch at drop_path_rate * n / N.
    """
    naming = arch.naming
    total = sum(len(stage) for stage in arch.stages)
    x = add_row(x, arch.stem, alpha, arch, _fixed_namer(naming, "stem"),
                in_block=False)
    stride, dilation = arch.stem.stride, 1
    records = [_record(x, stride)]
    outputs = {stride: x}
    n = 0
    for i, stage in enumerate(arch.stages):
        for j, row in enumerate(stage):
            row, row_dilation, stride, dilation = dilate(
                row, stride, dilation, output_stride)
            names = naming.block(i, j, n, row)
            x = add_row(x, row, alpha, arch, names, depth_multiplier,
                        drop_path_rate * n / total, row_dilation)
            records.append(_record(x, stride, names, row))
            outputs[stride] = x
            n += 1
    if arch.last_conv is not None:
        x = add_row(x, arch.last_conv, alpha, arch,
                    _fixed_namer(naming, "last"), in_block=False)
        records.append(_record(x, stride))
        outputs[stride] = x
    if arch.neck is not None:
        # The neck reads the last output at each stride (MobileNetV5's
        # adapter: 16 and 32).
        x = blocks.multi_scale_fusion(outputs, arch.neck,
                                      arch.conventions.activation,
                                      arch.conventions, naming.fixed["neck"])
    return x, tuple(records)


def head(x, arch, alpha, keepdims=False):
    """Global average pooling and the top's optional hidden conv (with its
    BatchNorm and activation): what the classifier reads, timm's pre-logits
    (kept 4D where `keepdims` or there is a hidden conv)."""
    spec_top, fixed = arch.top, arch.naming.fixed
    keepdims = keepdims or spec_top.hidden is not None
    x = layers.GlobalAveragePooling2D(keepdims=keepdims, name=fixed["pool"])(x)
    if spec_top.hidden is not None:
        width = conv_width(
            spec.ConvBN(1, 1, spec_top.hidden, scale=spec_top.hidden_scale),
            alpha, arch.width, None)
        use_bn = spec_top.hidden_norm
        x = blocks.conv(x, width, 1, fixed["hidden"], arch.conventions,
                        use_bias=spec_top.hidden_bias and not use_bn)
        if use_bn:
            x = blocks.batch_norm(x, fixed["hidden_bn"], arch.conventions)
        x = blocks.activation(x, arch.conventions.activation,
                              fixed["hidden_act"])
    return x


def pre_logits(x, arch, alpha):
    """The top without its classifier: (samples, channels)."""
    x = head(x, arch, alpha)
    if len(x.shape) == 4:
        x = layers.Flatten(name=arch.naming.fixed["flatten"])(x)
    return x


def top(x, arch, alpha, classes, dropout, classifier_activation):
    """Global average pooling, the optional hidden conv, dropout, the classifier."""
    spec_top, fixed = arch.top, arch.naming.fixed
    keepdims = spec_top.hidden is not None or spec_top.classifier == "conv"
    x = head(x, arch, alpha, keepdims)
    if spec_top.classifier == "dense" and keepdims:
        x = layers.Flatten(name=fixed["flatten"])(x)
    if dropout > 0 or spec_top.always_dropout:
        x = layers.Dropout(dropout, name=fixed["dropout"])(x)
    if spec_top.classifier == "dense":
        return layers.Dense(classes, activation=classifier_activation,
                            name=fixed["classifier"])(x)
    x = blocks.conv(x, classes, 1, fixed["classifier"], arch.conventions,
                    use_bias=True)
    x = layers.Flatten(name=fixed["flatten"])(x)
    return layers.Activation(classifier_activation,
                             name=fixed["predictions"])(x)


def preprocessing(x, arch, checkpoint):
    """The input normalisation of models that normalise themselves."""
    name = arch.naming.fixed["preprocessing"]
    if arch.preprocessing == "rescale":
        return layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name=name)(x)
    return layers.Normalization(
        axis=blocks.channel_axis(),
        mean=[255.0 * m for m in checkpoint.mean],
        variance=[(255.0 * s) ** 2 for s in checkpoint.std],
        name=name,
    )(x)


def _input(opts, shape):
    tensor = opts.input_tensor
    if tensor is None:
        inputs = layers.Input(shape=shape)
        return inputs, inputs
    if keras.backend.is_keras_tensor(tensor):
        return keras.utils.get_source_inputs(tensor), tensor
    inputs = layers.Input(tensor=tensor, shape=shape)
    return inputs, inputs


def resolve(entry, **values):
    """(`Options`, `weights.Resolved`): the public arguments of `entry`
    checked (those left out at its defaults) and what `weights=` names, with
    the top's classes the weights bring. Builds nothing."""
    sig = arguments.signature(entry.arguments, entry.defaults)
    bound = sig.bind(**values)
    bound.apply_defaults()
    opts = check(entry, bound.arguments)
    resolved = weights_lib.resolve(entry.pretrained, opts)
    return dataclasses.replace(opts, classes=resolved.classes), resolved


def build(entry, **values):
    """Builds `entry` (a `registry.Entry`) from its public arguments."""
    return build_resolved(entry, *resolve(entry, **values))


def build_resolved(entry, opts, resolved):
    """Builds `entry` from what `resolve` returned for its arguments."""
    arch = entry.arch_for(opts)
    source = resolved.source
    # Every variable is assigned from the weights below: skip initialising.
    loads = source is not None
    with placeholder_weights() if loads else contextlib.nullcontext():
        model = _network(entry, opts, arch, resolved)

    # The top's layers (timm modules) a weights file may hold and this
    # model lacks: all of them without the top, the classifier without it
    # but with the pre-logits.
    kept = {layer.name for layer in model.layers}
    ignore = () if opts.include_top else tuple(
        n for n in arch.naming.top_layers if n not in kept)
    if loads:
        weights_lib.load(model, source, opts.include_top, ignore)
    return model


def _network(entry, opts, arch, resolved):
    """The model of `arch` at `opts` (without weights), with its facts:
    the record of its trunk, the classes the weights name, the eval recipe of the
    checkpoint it normalises with (`Model`)."""
    inputs, x = _input(opts, opts.shape)
    if arch.preprocessing is not None and opts.include_preprocessing:
        x = preprocessing(x, arch, resolved.recipe)
    x, records = body(x, arch, opts.alpha, opts.depth_multiplier,
                      opts.drop_path_rate, opts.output_stride)
    fixed = arch.naming.fixed
    if opts.include_top:
        x = top(x, arch, opts.alpha, opts.classes, opts.dropout,
                opts.classifier_activation)
    elif opts.include_pre_logits:
        x = pre_logits(x, arch, opts.alpha)
    elif opts.pooling == "avg":
        x = layers.GlobalAveragePooling2D(name=fixed["avg_pool"])(x)
    elif opts.pooling == "max":
        x = layers.GlobalMaxPooling2D(name=fixed["max_pool"])(x)
    name = opts.name or entry.model_name.format(alpha=opts.alpha,
                                                rows=resolved.rows)
    return Model(inputs, x, name=name, feature_info=records,
                 class_names=resolved.class_names,
                 data_config=resolved.data_config)


def check(entry, values):
    """Validates the public arguments of `entry` (all of them, by name);
    returns `Options` (`arguments.check`)."""
    return Options(**arguments.check(entry.arguments, values,
                                     entry.default_size))
