"""Building blocks of MobileNetV4 as functions that add plain Keras layers to a graph.

Layer names are the timm module paths with dots replaced by underscores
(`blocks_2_1_dw_start_conv` for timm's `blocks.2.1.dw_start.conv`): they are
the weight format, see `convert.py`. `prefix` is the block's path
("blocks_2_1"); activations take their timm name too (`..._bn_act`).
"""

from keras import layers

from . import _blocks
from . import layers as km_layers
from .layers import LayerScale
from .layers import MultiQueryAttention


def conv(x, filters, kernel_size, stride, name, style, depthwise=False):
    """Convolution without bias; `filters` is ignored when depthwise.

    Stride 1 uses 'same' (with odd kernels the same symmetric padding as
    PyTorch); strided convolutions pad explicitly by `style.pad_mode`.
    """
    padding = "same"
    if stride > 1:
        x = _blocks.stride_padding(x, kernel_size, style.pad_mode,
                                   f"{name}_pad", stride)
        padding = "valid"
    if depthwise:
        return km_layers.DepthwiseConv2D(
            kernel_size, strides=stride, padding=padding, use_bias=False,
            name=name,
        )(x)
    return km_layers.Conv2D(
        filters, kernel_size, strides=stride, padding=padding, use_bias=False,
        name=name,
    )(x)


def conv_bn(x, filters, kernel_size, stride, act, names, style,
            depthwise=False):
    """Convolution, BatchNorm, optional activation; `names` = (conv, bn).

    The activation is named `<bn>_act`, after timm's `BatchNormAct2d.act`.
    """
    conv_name, bn_name = names
    x = conv(x, filters, kernel_size, stride, conv_name, style, depthwise)
    x = _blocks.batch_norm(x, bn_name, style)
    return _blocks.activation(x, act, f"{bn_name}_act")


def _residual(x, shortcut, stride, layer_scale, prefix):
    """Layer scale (where the model has it, with or without a skip), then the
    skip connection when the block keeps stride and width."""
    if layer_scale is not None:
        x = LayerScale(layer_scale, axis=_blocks.channel_axis(),
                       name=f"{prefix}_layer_scale")(x)
    if stride == 1 and _blocks.channels(shortcut) == _blocks.channels(x):
        x = layers.Add(name=f"{prefix}_add")([shortcut, x])
    return x


def conv_bn_act(x, filters, kernel_size, stride, act, prefix, style):
    """A plain convolution block (timm `ConvBnAct`, arch string `cn`): no
    residual, even where widths match."""
    return conv_bn(x, filters, kernel_size, stride, act,
                   (f"{prefix}_conv", f"{prefix}_bn1"), style)


def fused_inverted_bottleneck(x, filters, kernel_size, stride, expand_ratio,
                              act, prefix, style):
    """Fused inverted bottleneck (timm `EdgeResidual`, arch string `er`): a
    full k x k expansion convolution in place of 1x1 expand + depthwise, then
    a linear 1x1 projection; residual when stride and width allow."""
    shortcut = x
    expanded = _blocks.make_divisible(_blocks.channels(x) * expand_ratio)
    x = conv_bn(x, expanded, kernel_size, stride, act,
                (f"{prefix}_conv_exp", f"{prefix}_bn1"), style)
    x = conv_bn(x, filters, 1, 1, None,
                (f"{prefix}_conv_pwl", f"{prefix}_bn2"), style)
    return _residual(x, shortcut, stride, None, prefix)


def universal_inverted_bottleneck(x, filters, start_dw_kernel, mid_dw_kernel,
                                  stride, expand_ratio, act, layer_scale,
                                  prefix, style):
    """Universal Inverted Bottleneck (UIB, MobileNetV4 paper section 3.1;
    timm `UniversalInvertedResidual`, arch string `uir`).

    An optional depthwise conv before the 1x1 expansion (`start_dw_kernel`,
    BN, no activation) and one after it (`mid_dw_kernel`, BN + activation),
    then a linear 1x1 projection. A kernel of 0 leaves that conv out, which
    gives the four instances of the paper:

    - ExtraDW: both depthwise convs;
    - IB (the MobileNetV2 inverted bottleneck): middle one only;
    - ConvNeXt-like: start one only;
    - FFN: neither.

    The stride goes to the middle depthwise conv, else to the start one. The
    expanded width is `make_divisible(input width * expand_ratio)`.
    `layer_scale` is the initial value of a LayerScale on the branch (None
    for none).
    """
    if stride > 1 and not (start_dw_kernel or mid_dw_kernel):
        raise ValueError(
            "A strided UIB needs a depthwise convolution. Received: "
            f"start_dw_kernel={start_dw_kernel}, mid_dw_kernel={mid_dw_kernel}, "
            f"stride={stride}"
        )
    shortcut = x
    if start_dw_kernel:
        x = conv_bn(x, None, start_dw_kernel, 1 if mid_dw_kernel else stride,
                    None, (f"{prefix}_dw_start_conv", f"{prefix}_dw_start_bn"),
                    style, depthwise=True)
    expanded = _blocks.make_divisible(_blocks.channels(shortcut) * expand_ratio)
    x = conv_bn(x, expanded, 1, 1, act,
                (f"{prefix}_pw_exp_conv", f"{prefix}_pw_exp_bn"), style)
    if mid_dw_kernel:
        x = conv_bn(x, None, mid_dw_kernel, stride, act,
                    (f"{prefix}_dw_mid_conv", f"{prefix}_dw_mid_bn"), style,
                    depthwise=True)
    x = conv_bn(x, filters, 1, 1, None,
                (f"{prefix}_pw_proj_conv", f"{prefix}_pw_proj_bn"), style)
    return _residual(x, shortcut, stride, layer_scale, prefix)


def mobile_mqa(x, filters, num_heads, key_dim, value_dim, kv_stride,
               kv_dw_kernel, layer_scale, prefix, style):
    """Mobile multi-query attention block (MobileNetV4 paper section 4; timm
    `MobileAttention` with `MultiQueryAttention2d`, arch string `mqa`).

    Pre-norm (BatchNorm) residual attention: 1x1 query projection to
    `num_heads * key_dim`; keys and values optionally downsampled by
    `kv_stride` (each with its own depthwise conv + BN), then projected by
    1x1 convs to a single shared head of `key_dim` / `value_dim`;
    multi-query attention; 1x1 output projection to `filters`; layer scale;
    residual when the width is kept.
    """
    attn = f"{prefix}_attn"
    shortcut = x
    x = _blocks.batch_norm(x, f"{prefix}_norm", style)
    query = conv(x, num_heads * key_dim, 1, 1, f"{attn}_query_proj", style)
    projected = []
    for role, dim in (("key", key_dim), ("value", value_dim)):
        y = x
        if kv_stride > 1:
            y = conv(y, None, kv_dw_kernel, kv_stride, f"{attn}_{role}_down_conv",
                     style, depthwise=True)
            y = _blocks.batch_norm(y, f"{attn}_{role}_norm", style)
        projected.append(conv(y, dim, 1, 1, f"{attn}_{role}_proj", style))
    x = MultiQueryAttention(num_heads, name=attn)([query, *projected])
    x = conv(x, filters, 1, 1, f"{attn}_output_proj", style)
    return _residual(x, shortcut, 1, layer_scale, prefix)
