"""The building blocks, one function per row type of `spec`: each adds plain
Keras layers (and those of `keras_mobilenets.layers`) to a functional graph,
so a model built from them saves and loads as a `.keras` file.

Every block takes `names`, which names its layers by role (see
`naming.py`): a function role -> layer name, or a string prefix, in which
case a role's layer is `<prefix>_<role>` (timm's module paths). `style` is a
`spec.Conventions` (BatchNorm epsilon and momentum, padding); `STYLE` holds
MobileNetV4's. `dilation` dilates a block's convolutions larger than 1x1
(timm's rule, for `output_stride`; see `builder.body`).

    x = keras.Input((64, 64, 32))
    y = blocks.universal_inverted_bottleneck(
        x, filters=64, start_dw_kernel=3, mid_dw_kernel=5, stride=2,
        expand_ratio=4.0, act="relu", layer_scale=None, prefix="my_uib",
        style=blocks.STYLE)
"""

import keras
from keras import layers

from . import layers as km_layers
from .layers import LayerScale, MultiQueryAttention  # noqa: F401  (public here)
from .spec import Conventions

# MobileNetV4's (timm's) conventions: PyTorch BatchNorm defaults (eps 1e-5,
# momentum 0.1, i.e. Keras momentum 0.9) and symmetric explicit padding of
# every strided convolution.
STYLE = Conventions(activation="relu", bn_epsilon=1e-5, bn_momentum=0.9,
                    padding="symmetric", pad_all=True)


def namer(names):
    """`names` as a function role -> layer name (see the module docstring)."""
    if callable(names):
        return names
    return lambda role: f"{names}_{role}"


def channel_axis():
    return 1 if keras.config.image_data_format() == "channels_first" else -1


def channels(x):
    return x.shape[channel_axis()]


def make_divisible(value, divisor=8, min_value=None, round_limit=0.9):
    """Rounds a channel count to a multiple of `divisor`, never more than 10% down.

    The rule of the TensorFlow slim MobileNet code, used by keras.applications
    (`_make_divisible`, `_depth`) and timm (`make_divisible`).
    """
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def activation(x, kind, name):
    """kind: 'relu6', 'relu', 'hard_swish', 'gelu' (exact, as PyTorch's
    nn.GELU), 'gelu_tanh' (its tanh approximation) or None (linear)."""
    if kind is None:
        return x
    if kind == "gelu_tanh":
        return layers.Activation(km_layers.gelu_tanh, name=name)(x)
    if kind == "relu6":
        return layers.ReLU(6.0, name=name)(x)
    if kind == "relu":
        return layers.ReLU(name=name)(x)
    return layers.Activation(kind, name=name)(x)


def batch_norm(x, name, style):
    """The block's normalisation: BatchNorm, or RMSNorm over the channels
    where `style.norm` is "rms" (timm's `RmsNorm2d`)."""
    if style.norm == "rms":
        return km_layers.RMSNorm2D(style.bn_epsilon, axis=channel_axis(),
                                   name=name)(x)
    return km_layers.BatchNormalization(
        axis=channel_axis(), epsilon=style.bn_epsilon,
        momentum=style.bn_momentum, name=name,
    )(x)


def stride_padding(x, kernel_size, mode, name, stride=2, dilation=1):
    """Explicit zero padding before a 'valid' strided convolution.

    mode "bottom_right" pads one row and column at the end (keras.applications
    MobileNet V1); mode "correct" is `imagenet_utils.correct_pad` (V2, V3):
    symmetric for odd input sizes, one less at the start for even ones; mode
    "symmetric" is timm's `get_padding` (V4): ((stride - 1) + dilation *
    (kernel_size - 1)) // 2 zeros on every side, as PyTorch pads.
    """
    if mode == "bottom_right":
        padding = ((0, 1), (0, 1))
    elif mode == "symmetric":
        pad = ((stride - 1) + dilation * (kernel_size - 1)) // 2
        padding = ((pad, pad), (pad, pad))
    else:
        rows, cols = ((2, 3) if channel_axis() == 1 else (1, 2))
        size = (x.shape[rows], x.shape[cols])
        half = kernel_size // 2
        padding = tuple(
            (half - (1 if dim is None else 1 - dim % 2), half) for dim in size
        )
    return layers.ZeroPadding2D(padding, name=name)(x)


def conv(x, filters, kernel_size, name, style, stride=1, depthwise=False,
         use_bias=False, multiplier=1, pad_name=None, dilation=1):
    """A convolution; `filters` is ignored when depthwise.

    'same' padding at stride 1 (with odd kernels PyTorch's symmetric padding
    too, dilated or not); strided depthwise convs (every strided conv where
    `style.pad_all`) pad explicitly by `style.padding` (a layer named
    `pad_name`, default `<name>_pad`), then run 'valid', as the references
    do. `dilation` applies to kernels larger than 1x1; a conv both strided
    and dilated (MobileNetV4's key/value downsampling at output stride 8)
    runs at stride 1 and keeps every `stride`-th output (a layer
    `<name>_subsample`), which is the same and which TensorFlow's
    convolutions allow.
    """
    dilation = dilation if kernel_size > 1 else 1
    padding = "same"
    if stride > 1 and (depthwise or style.pad_all):
        x = stride_padding(x, kernel_size, style.padding,
                           pad_name or f"{name}_pad", stride, dilation)
        padding = "valid"
    subsample, stride = (stride, 1) if dilation > 1 else (1, stride)
    if depthwise:
        x = km_layers.DepthwiseConv2D(
            kernel_size, strides=stride, padding=padding,
            depth_multiplier=multiplier, use_bias=use_bias, name=name,
            dilation_rate=dilation,
        )(x)
    else:
        x = km_layers.Conv2D(
            filters, kernel_size, strides=stride, padding=padding,
            use_bias=use_bias, name=name, dilation_rate=dilation,
        )(x)
    if subsample > 1:
        x = layers.MaxPooling2D(1, subsample, name=f"{name}_subsample")(x)
    return x


# The layer class of each kind of anti-aliased downsampling.
DOWNSAMPLE_LAYERS = {"avg": layers.AveragePooling2D,
                     "blur": km_layers.BlurPool2D}


def downsample(x, kind, stride, name):
    """Anti-aliased downsampling by `stride` (`spec.Conventions.downsample`,
    timm's `create_aa`): "avg", average pooling over stride x stride windows
    (timm's `nn.AvgPool2d(stride)`), or "blur", a 3x3 binomial blur at
    `stride` with zero padding (`layers.BlurPool2D`, timm's "blurpc")."""
    if kind == "avg":
        return layers.AveragePooling2D(stride, strides=stride, padding="valid",
                                       name=name)(x)
    if kind == "blur":
        return km_layers.BlurPool2D(3, stride, name=name)(x)
    raise ValueError(f"`downsample` must be None or one of "
                     f"{sorted(DOWNSAMPLE_LAYERS)}. Received: downsample={kind!r}")


def conv_bn(x, filters, kernel_size, stride, act, names, style, roles,
            depthwise=False, multiplier=1, dilation=1, use_bias=False):
    """Convolution, BatchNorm, activation (None: linear), named by `roles`
    = (conv, bn, act) through `names`; the explicit padding of a strided
    conv is the role `<conv role>_pad`. With a fourth role and a
    `style.downsample`, a strided conv runs at stride 1 and that layer
    (the fourth role, timm's `aa`) downsamples after the activation."""
    name = namer(names)
    conv_role, bn_role, act_role = roles[:3]
    aa = style.downsample if stride > 1 and len(roles) > 3 else None
    conv_stride = 1 if aa else stride
    x = conv(x, filters, kernel_size, name(conv_role), style, conv_stride,
             depthwise, multiplier=multiplier, pad_name=name(conv_role + "_pad")
             if conv_stride > 1 and (depthwise or style.pad_all) else None,
             dilation=dilation, use_bias=use_bias)
    x = batch_norm(x, name(bn_role), style)
    x = x if act is None else activation(x, act, name(act_role))
    return downsample(x, aa, stride, name(roles[3])) if aa else x


def drop_path(x, rate, name):
    """Stochastic depth on a residual branch (Huang et al.,
    https://arxiv.org/abs/1603.09382; timm's `DropPath`): in training, each
    sample's branch is dropped with probability `rate` and the kept ones
    scaled by 1 / (1 - rate); the identity at inference. Keras' own Dropout
    with one mask value per sample; no layer at rate 0."""
    if not rate:
        return x
    noise_shape = (None,) + (1,) * (len(x.shape) - 1)
    return layers.Dropout(rate, noise_shape=noise_shape,
                          name=name("drop_path"))(x)


def _residual(x, shortcut, stride, layer_scale, name, drop_rate=0.0):
    """Layer scale (where the model has it, with or without a skip), then
    drop path and the skip connection when the block keeps stride and
    width."""
    if layer_scale is not None:
        x = LayerScale(layer_scale, axis=channel_axis(),
                       name=name("layer_scale"))(x)
    if stride == 1 and channels(shortcut) == channels(x):
        x = drop_path(x, drop_rate, name)
        x = layers.Add(name=name("add"))([shortcut, x])
    return x


def conv_bn_act(x, filters, kernel_size, stride, act, prefix, style,
                dilation=1, anti_alias=False, use_bias=False):
    """A plain convolution block (`spec.ConvBN`; timm `ConvBnAct`, arch
    string `cn`), roles conv, bn1, bn1_act (and aa where `anti_alias` and
    `style.downsample`: a block's, not the stem's): no residual, even where
    widths match."""
    roles = ("conv", "bn1", "bn1_act") + (("aa",) if anti_alias else ())
    return conv_bn(x, filters, kernel_size, stride, act, prefix, style, roles,
                   dilation=dilation, use_bias=use_bias)


def depthwise_separable(x, filters, kernel_size, stride, act, names, style,
                        multiplier=1, dilation=1, pw_act=True, se_ratio=0.0,
                        residual=False, drop_rate=0.0):
    """MobileNet V1's block (`spec.DepthwiseSeparable`): depthwise conv, BN,
    activation, [squeeze-excite,] pointwise conv, BN[, activation][,
    residual when stride and width allow]; roles sep_dw*, sep_pw*, se_*,
    add (distinct from the inverted residual's, whose BatchNorms timm
    numbers differently)."""
    name = namer(names)
    shortcut = x
    x = conv_bn(x, None, kernel_size, stride, act, name, style,
                ("sep_dw", "sep_dw_bn", "sep_dw_act"), depthwise=True,
                multiplier=multiplier, dilation=dilation)
    if se_ratio:
        x = squeeze_excite(x, channels(x), se_ratio, name, style, act)
    x = conv_bn(x, filters, 1, 1, act if pw_act else None, name, style,
                ("sep_pw", "sep_pw_bn", "sep_pw_act"))
    if residual and stride == 1 and channels(shortcut) == filters:
        x = drop_path(x, drop_rate, name)
        x = layers.Add(name=name("add"))([shortcut, x])
    return x


def squeeze_excite(x, filters, se_ratio, names, style=None, act="relu"):
    """SE of MobileNetV3: pool, reduce (ReLU), expand (hard sigmoid),
    rescale. `style.se_round` rounds the reduced width, `style.se_act`
    (None: the block's `act`) activates it (`spec.Conventions`)."""
    name = namer(names)
    style = style or Conventions()
    reduced = filters * se_ratio
    reduced = (round(reduced) if style.se_round == "round"
               else make_divisible(reduced))
    s = layers.GlobalAveragePooling2D(keepdims=True, name=name("se_pool"))(x)
    s = km_layers.Conv2D(reduced, 1, padding="same", name=name("se_reduce"))(s)
    if style.se_act is None:
        s = activation(s, act, name("se_reduce_act"))
    else:
        s = activation(s, style.se_act, name("se_reduce_act"))
    s = km_layers.Conv2D(filters, 1, padding="same", name=name("se_expand"))(s)
    # relu6(x + 3) / 6 written as keras.applications does, which is bit-exact
    # with it on every backend; Activation("hard_sigmoid") rounds differently
    # on TensorFlow and PyTorch.
    s = layers.ReLU(6.0, name=name("se_gate"))(s + 3.0)
    s = s * (1.0 / 6.0)
    return layers.Multiply(name=name("se_mul"))([x, s])


def inverted_residual(x, filters, kernel_size, stride, expand_ratio, act,
                      se_ratio, names, style, drop_rate=0.0, dilation=1):
    """MobileNetV2/V3 block (`spec.InvertedResidual`): 1x1 expansion to
    `make_divisible(input width * expand_ratio)` (none at ratio 1),
    depthwise conv, optional squeeze-excite, linear 1x1 projection, residual
    when stride and width allow."""
    name = namer(names)
    shortcut = x
    if expand_ratio != 1:
        x = conv_bn(x, make_divisible(channels(x) * expand_ratio), 1, 1, act,
                    name, style, ("expand", "expand_bn", "expand_act"))
    x = conv_bn(x, None, kernel_size, stride, act, name, style,
                ("dw", "dw_bn", "dw_act"), depthwise=True, dilation=dilation)
    if se_ratio:
        x = squeeze_excite(x, channels(x), se_ratio, name, style, act)
    x = conv(x, filters, 1, name("project"), style)
    x = batch_norm(x, name("project_bn"), style)
    if stride == 1 and channels(shortcut) == filters:
        x = drop_path(x, drop_rate, name)
        x = layers.Add(name=name("add"))([shortcut, x])
    return x


def fused_inverted_bottleneck(x, filters, kernel_size, stride, expand_ratio,
                              act, prefix, style, drop_rate=0.0, dilation=1):
    """Fused inverted bottleneck (`spec.FusedIB`; timm `EdgeResidual`, arch
    string `er`): a full k x k expansion convolution in place of 1x1 expand +
    depthwise, then a linear 1x1 projection; residual when stride and width
    allow. With `style.downsample`, a strided block downsamples after the
    expansion's activation (`aa`)."""
    name = namer(prefix)
    shortcut = x
    expanded = make_divisible(channels(x) * expand_ratio)
    x = conv_bn(x, expanded, kernel_size, stride, act, name, style,
                ("conv_exp", "bn1", "bn1_act", "aa"), dilation=dilation)
    x = conv_bn(x, filters, 1, 1, None, name, style, ("conv_pwl", "bn2", None))
    return _residual(x, shortcut, stride, None, name, drop_rate)


def universal_inverted_bottleneck(x, filters, start_dw_kernel, mid_dw_kernel,
                                  stride, expand_ratio, act, layer_scale,
                                  prefix, style, drop_rate=0.0, dilation=1):
    """Universal Inverted Bottleneck (`spec.UIB`; MobileNetV4 paper section
    3.1; timm `UniversalInvertedResidual`, arch string `uir`).

    An optional depthwise conv before the 1x1 expansion (`start_dw_kernel`,
    BN, no activation) and one after it (`mid_dw_kernel`, BN + activation),
    then a linear 1x1 projection. A kernel of 0 leaves that conv out, which
    gives the four instances of the paper:

    - ExtraDW: both depthwise convs;
    - IB (the MobileNetV2 inverted bottleneck): middle one only;
    - ConvNeXt-like: start one only;
    - FFN: neither.

    The stride goes to the middle depthwise conv, else to the start one
    (with `style.downsample`: to a `dw_mid_aa` / `dw_start_aa` layer after
    it). The
    expanded width is `make_divisible(input width * expand_ratio)`.
    `layer_scale` is the initial value of a LayerScale on the branch (None
    for none); `drop_rate` the stochastic depth of a residual branch.
    """
    if stride > 1 and not (start_dw_kernel or mid_dw_kernel):
        raise ValueError(
            "A strided UIB needs a depthwise convolution. Received: "
            f"start_dw_kernel={start_dw_kernel}, mid_dw_kernel={mid_dw_kernel}, "
            f"stride={stride}"
        )
    name = namer(prefix)
    shortcut = x
    if start_dw_kernel:
        x = conv_bn(x, None, start_dw_kernel, 1 if mid_dw_kernel else stride,
                    None, name, style,
                    ("dw_start_conv", "dw_start_bn", None, "dw_start_aa"),
                    depthwise=True, dilation=dilation)
    expanded = make_divisible(channels(shortcut) * expand_ratio)
    x = conv_bn(x, expanded, 1, 1, act, name, style,
                ("pw_exp_conv", "pw_exp_bn", "pw_exp_bn_act"))
    if mid_dw_kernel:
        x = conv_bn(x, None, mid_dw_kernel, stride, act, name, style,
                    ("dw_mid_conv", "dw_mid_bn", "dw_mid_bn_act", "dw_mid_aa"),
                    depthwise=True, dilation=dilation)
    x = conv_bn(x, filters, 1, 1, None, name, style,
                ("pw_proj_conv", "pw_proj_bn", None))
    return _residual(x, shortcut, stride, layer_scale, name, drop_rate)


def mobile_mqa(x, filters, num_heads, key_dim, value_dim, kv_stride,
               kv_dw_kernel, layer_scale, prefix, style, drop_rate=0.0,
               dilation=1):
    """Mobile multi-query attention block (`spec.MQA`; MobileNetV4 paper
    section 4; timm `MobileAttention` with `MultiQueryAttention2d`, arch
    string `mqa`).

    Pre-norm (BatchNorm) residual attention: 1x1 query projection to
    `num_heads * key_dim`; keys and values optionally downsampled by
    `kv_stride` (each with its own depthwise conv + BN), then projected by
    1x1 convs to a single shared head of `key_dim` / `value_dim`;
    multi-query attention; 1x1 output projection to `filters`; layer scale;
    residual when the width is kept.
    """
    name = namer(prefix)
    shortcut = x
    x = batch_norm(x, name("norm"), style)
    query = conv(x, num_heads * key_dim, 1, name("attn_query_proj"), style)
    projected = []
    for role, dim in (("key", key_dim), ("value", value_dim)):
        y = x
        if kv_stride > 1:
            y = conv_bn(y, None, kv_dw_kernel, kv_stride, None, name, style,
                        (f"attn_{role}_down_conv", f"attn_{role}_norm", None),
                        depthwise=True, dilation=dilation)
        projected.append(conv(y, dim, 1, name(f"attn_{role}_proj"), style))
    x = MultiQueryAttention(num_heads, name=name("attn"))([query, *projected])
    x = conv(x, filters, 1, name("attn_output_proj"), style)
    return _residual(x, shortcut, 1, layer_scale, name, drop_rate)


def multi_scale_fusion(features, row, act, style, prefix):
    """MobileNetV5's multi-scale fusion adapter (`spec.MSFA`; timm
    `MobileNetV5MultiScaleFusionAdapter`) on `features` {stride: output}:
    the outputs at `row.strides` resized to the first one's size (nearest,
    PyTorch's rule) and concatenated, a 1x1 FFN without residual (roles
    `ffn_pw_exp_*`, `ffn_pw_proj_*`, timm's `UniversalInvertedResidual`
    with no depthwise convs), resized to `row.output_resolution` (average
    pooling where the size divides, else bilinear), then `norm`."""
    name = namer(prefix)
    axes = (2, 3) if channel_axis() == 1 else (1, 2)
    inputs = [features[s] for s in row.strides]
    size = tuple(inputs[0].shape[a] for a in axes)
    if None in size:
        raise ValueError(
            "MobileNetV5's adapter needs a known input size: pass "
            "`input_shape` with rows and cols. Received: feature map of "
            f"shape {tuple(inputs[0].shape)}")
    inputs = [x if tuple(x.shape[a] for a in axes) == size else
              km_layers.NearestResize(size, name=name(f"resize_{i}"))(x)
              for i, x in enumerate(inputs)]
    x = layers.Concatenate(axis=channel_axis(), name=name("concat"))(inputs)
    expanded = make_divisible(channels(x) * row.expand_ratio)
    x = conv_bn(x, expanded, 1, 1, act, name, style,
                ("ffn_pw_exp_conv", "ffn_pw_exp_bn", "ffn_pw_exp_bn_act"))
    x = conv_bn(x, row.filters, 1, 1, None, name, style,
                ("ffn_pw_proj_conv", "ffn_pw_proj_bn", None))
    out = (row.output_resolution,) * 2
    if size != out:
        if all(s % o == 0 for s, o in zip(size, out)):
            pool = tuple(s // o for s, o in zip(size, out))
            x = layers.AveragePooling2D(pool, strides=pool,
                                        name=name("pool"))(x)
        else:
            # PyTorch's bilinear interpolation (half-pixel centres, no
            # antialiasing) is Keras' on every backend.
            x = layers.Resizing(*out, interpolation="bilinear",
                                name=name("resize"))(x)
    return batch_norm(x, name("norm"), style)
