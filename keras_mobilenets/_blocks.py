"""Building blocks of MobileNets V1-V3 as functions that add plain Keras layers to a graph.

Layer names are passed in by the caller: they are part of the weight format
(see each generation's `NAMES`).
"""

import keras
from keras import layers

from . import layers as km_layers
from ._args import data_format_axes


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
    """kind: 'relu6', 'relu', 'hard_swish' or None (linear)."""
    if kind is None:
        return x
    if kind == "relu6":
        return layers.ReLU(6.0, name=name)(x)
    if kind == "relu":
        return layers.ReLU(name=name)(x)
    return layers.Activation(kind, name=name)(x)


def batch_norm(x, name, style):
    return km_layers.BatchNormalization(
        axis=channel_axis(), epsilon=style.bn_epsilon,
        momentum=style.bn_momentum, name=name,
    )(x)


def stride_padding(x, kernel_size, mode, name, stride=2):
    """Explicit zero padding before a 'valid' strided convolution.

    mode "bottom_right" pads one row and column at the end (keras.applications
    MobileNet V1); mode "correct" is `imagenet_utils.correct_pad` (V2, V3):
    symmetric for odd input sizes, one less at the start for even ones; mode
    "symmetric" is timm's `get_padding` (V4): ((stride - 1) + (kernel_size -
    1)) // 2 zeros on every side, as PyTorch pads.
    """
    if mode == "bottom_right":
        padding = ((0, 1), (0, 1))
    elif mode == "symmetric":
        pad = ((stride - 1) + (kernel_size - 1)) // 2
        padding = ((pad, pad), (pad, pad))
    else:
        _, row_axis, col_axis = data_format_axes()
        size = (x.shape[1 + row_axis], x.shape[1 + col_axis])
        half = kernel_size // 2
        padding = tuple(
            (half - (1 if dim is None else 1 - dim % 2), half) for dim in size
        )
    return layers.ZeroPadding2D(padding, name=name)(x)


def conv(x, filters, kernel_size, name, stride=1, use_bias=False):
    return km_layers.Conv2D(
        filters, kernel_size, strides=stride, padding="same",
        use_bias=use_bias, name=name,
    )(x)


def conv_bn_act(x, filters, kernel_size, stride, act, names, style):
    """Conv (no bias), BatchNorm, activation; `names` = (conv, bn, act)."""
    x = conv(x, filters, kernel_size, names[0], stride=stride)
    x = batch_norm(x, names[1], style)
    return activation(x, act, names[2])


def depthwise_bn_act(x, kernel_size, stride, act, names, style, multiplier=1):
    """Depthwise conv, BatchNorm, activation; `names` = (pad, conv, bn, act).

    'same' padding at stride 1; explicit padding then 'valid' when strided,
    as keras.applications does.
    """
    padding = "same"
    if stride != 1:
        x = stride_padding(x, kernel_size, style.pad_mode, names[0])
        padding = "valid"
    x = km_layers.DepthwiseConv2D(
        kernel_size, strides=stride, padding=padding,
        depth_multiplier=multiplier, use_bias=False, name=names[1],
    )(x)
    x = batch_norm(x, names[2], style)
    return activation(x, act, names[3])


def squeeze_excite(x, filters, se_ratio, prefix):
    """SE of MobileNetV3: pool, reduce (ReLU), expand (hard sigmoid), rescale."""
    s = layers.GlobalAveragePooling2D(
        keepdims=True, name=f"{prefix}squeeze_excite_avg_pool"
    )(x)
    s = conv(s, make_divisible(filters * se_ratio), 1,
             f"{prefix}squeeze_excite_conv", use_bias=True)
    s = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(s)
    s = conv(s, filters, 1, f"{prefix}squeeze_excite_conv_1", use_bias=True)
    # relu6(x + 3) / 6 written as keras.applications does, which is bit-exact
    # with it on every backend; Activation("hard_sigmoid") rounds differently
    # on TensorFlow and PyTorch.
    s = layers.ReLU(6.0, name=f"{prefix}squeeze_excite_hard_sigmoid")(s + 3.0)
    s = s * (1.0 / 6.0)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([x, s])


def inverted_residual(x, expanded, filters, kernel_size, stride, act, se_ratio,
                      prefix, style):
    """MobileNetV2/V3 block: 1x1 expand, depthwise, optional SE, linear 1x1
    projection, residual when shapes allow. No expansion when `expanded` is None.
    """
    n = {role: prefix + suffix for role, suffix in style.names.items()}
    shortcut, in_channels = x, channels(x)
    if expanded is not None:
        x = conv_bn_act(x, expanded, 1, 1, act,
                        (n["expand"], n["expand_bn"], n["expand_act"]), style)
    x = depthwise_bn_act(x, kernel_size, stride, act,
                         (n["pad"], n["depthwise"], n["depthwise_bn"],
                          n["depthwise_act"]), style)
    if se_ratio:
        x = squeeze_excite(x, channels(x), se_ratio, prefix)
    x = conv(x, filters, 1, n["project"])
    x = batch_norm(x, n["project_bn"], style)
    if stride == 1 and in_channels == filters:
        x = layers.Add(name=n["add"])([shortcut, x])
    return x
