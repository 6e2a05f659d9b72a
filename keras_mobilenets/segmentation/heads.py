"""Segmentation heads as small functional builders: each adds plain Keras
layers to a graph of feature maps (any backbone's, e.g. the dict of
`keras_mobilenets.feature_model`) and returns per-pixel logits.

LR-ASPP and DeepLabV3's ASPP head compute what torchvision's `LRASPPHead`
and `DeepLabHead` compute, with their BatchNorm conventions (epsilon 1e-5,
momentum 0.1); layers are named `<prefix>_<torchvision module path>` (dots
as underscores), so copying torchvision's tensors is a rename and a
transpose. Bilinear resizing follows PyTorch's `align_corners=False`.
"""

import keras
from keras import layers
from keras import ops

from .. import blocks

# torchvision's BatchNorm2d defaults, as MobileNetV4's.
STYLE = blocks.STYLE


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class ResizeLike(layers.Layer):
    """Bilinear resize of `inputs[0]` to the spatial size of `inputs[1]`
    (known only at run time where the input size is dynamic): half-pixel
    centres, no antialiasing, i.e. PyTorch's `F.interpolate(mode="bilinear",
    align_corners=False)` and TensorFlow's `tf.image.resize`."""

    def call(self, inputs):
        x, like = inputs
        data_format = keras.config.image_data_format()
        axes = (2, 3) if data_format == "channels_first" else (1, 2)
        static = tuple(like.shape[a] for a in axes)
        size = static if None not in static else tuple(
            ops.shape(like)[a] for a in axes)
        return ops.image.resize(x, size, interpolation="bilinear",
                                antialias=False, data_format=data_format)

    def compute_output_shape(self, input_shapes):
        x, like = input_shapes
        shape = list(x)
        axes = ((2, 3) if keras.config.image_data_format() == "channels_first"
                else (1, 2))
        for a in axes:
            shape[a] = like[a]
        return tuple(shape)


def _conv_bn_relu(x, filters, kernel_size, name, conv_path, bn_path,
                  dilation=1):
    x = blocks.conv(x, filters, kernel_size, name(conv_path), STYLE,
                    dilation=dilation)
    x = blocks.batch_norm(x, name(bn_path), STYLE)
    return layers.ReLU(name=name(f"{bn_path}_relu"))(x)


def _namer(prefix):
    return lambda path: f"{prefix}_{path}"


def lraspp_head(low, high, classes, inter_channels=128, prefix="lraspp"):
    """Lite R-ASPP (MobileNetV3 paper, section 6.4; torchvision's
    `LRASPPHead`): on the high-level map a 1x1 conv-BN-ReLU branch gated by
    a sigmoid of its global average (1x1 conv, no BatchNorm), resized
    bilinearly to the low-level map, through a 1x1 classifier, plus a 1x1
    classifier of the low-level map. Returns logits at `low`'s resolution.
    """
    name = _namer(prefix)
    x = _conv_bn_relu(high, inter_channels, 1, name, "cbr_0", "cbr_1")
    s = layers.GlobalAveragePooling2D(keepdims=True, name=name("scale_0"))(high)
    s = blocks.conv(s, inter_channels, 1, name("scale_1"), STYLE)
    s = layers.Activation("sigmoid", name=name("scale_2"))(s)
    x = layers.Multiply(name=name("gate"))([x, s])
    x = ResizeLike(name=name("resize"))([x, low])
    low = blocks.conv(low, classes, 1, name("low_classifier"), STYLE,
                      use_bias=True)
    x = blocks.conv(x, classes, 1, name("high_classifier"), STYLE,
                    use_bias=True)
    return layers.Add(name=name("add"))([low, x])


def aspp(x, rates=(12, 24, 36), filters=256, dropout=0.5, prefix="aspp"):
    """Atrous spatial pyramid pooling (DeepLabV3 paper, section 3.3;
    torchvision's `ASPP`): a 1x1 branch, a 3x3 branch per dilation rate, an
    image-pooling branch (global average, 1x1, resized back), each
    conv-BN-ReLU with `filters` channels, concatenated and projected by a
    1x1 conv-BN-ReLU, then dropout (identity at inference)."""
    name = _namer(prefix)
    branches = [_conv_bn_relu(x, filters, 1, name, "convs_0_0", "convs_0_1")]
    for i, rate in enumerate(rates, 1):
        branches.append(_conv_bn_relu(x, filters, 3, name, f"convs_{i}_0",
                                      f"convs_{i}_1", dilation=rate))
    pool = len(rates) + 1
    p = layers.GlobalAveragePooling2D(keepdims=True,
                                      name=name(f"convs_{pool}_0"))(x)
    p = _conv_bn_relu(p, filters, 1, name, f"convs_{pool}_1",
                      f"convs_{pool}_2")
    branches.append(ResizeLike(name=name(f"convs_{pool}_resize"))([p, x]))
    y = layers.Concatenate(axis=blocks.channel_axis(),
                           name=name("concat"))(branches)
    y = _conv_bn_relu(y, filters, 1, name, "project_0", "project_1")
    return layers.Dropout(dropout, name=name("project_3"))(y)


def deeplab_head(x, classes, rates=(12, 24, 36), prefix="deeplab"):
    """DeepLabV3's head (torchvision's `DeepLabHead`): `aspp` with 256
    channels, a 3x3 conv-BN-ReLU, a 1x1 classifier. torchvision's rates
    12/24/36 are those of `deeplabv3_mobilenet_v3_large` at output stride
    16. Returns logits at `x`'s resolution."""
    name = _namer(prefix)
    y = aspp(x, rates, 256, prefix=name("0"))
    y = _conv_bn_relu(y, 256, 3, name, "1", "2")
    return blocks.conv(y, classes, 1, name("4"), STYLE, use_bias=True)


def deeplabv3plus_decoder(x, low, classes, low_filters=48, filters=256,
                          prefix="decoder"):
    """DeepLabV3+'s decoder (Chen et al. 2018, section 3.1 and figure 2;
    tensorflow/models `research/deeplab`): the low-level map (stride 4) is
    reduced by a 1x1 conv-BN-ReLU to `low_filters` (48) channels, the
    encoder output `x` (ASPP's) resized bilinearly to it and concatenated,
    refined by two 3x3 conv-BN-ReLU of `filters` channels, classified by a
    1x1 conv. Plain 3x3 convolutions, as the paper's figure (tensorflow's
    code may use separable ones). torchvision has no DeepLabV3+, so these
    layers have names of their own. Returns logits at `low`'s resolution.
    """
    name = _namer(prefix)
    low = _conv_bn_relu(low, low_filters, 1, name, "low_conv", "low_bn")
    x = ResizeLike(name=name("resize"))([x, low])
    x = layers.Concatenate(axis=blocks.channel_axis(),
                           name=name("concat"))([x, low])
    x = _conv_bn_relu(x, filters, 3, name, "conv1", "bn1")
    x = _conv_bn_relu(x, filters, 3, name, "conv2", "bn2")
    return blocks.conv(x, classes, 1, name("classifier"), STYLE,
                       use_bias=True)
