"""The MobileNetV4 building blocks, public: functions that add plain Keras
layers (and the custom layers of `keras_mobilenets.layers`) to a functional
graph, so a model built from them saves and loads as a `.keras` file.

    x = keras.Input((64, 64, 32))
    y = blocks.universal_inverted_bottleneck(
        x, filters=64, start_dw_kernel=3, mid_dw_kernel=5, stride=2,
        expand_ratio=4.0, act="relu", layer_scale=None, prefix="my_uib",
        style=blocks.STYLE)

`STYLE` holds MobileNetV4's conventions (BatchNorm epsilon 1e-5, timm's
symmetric padding); see each function's docstring for its arguments.
"""

from ._blocks_v4 import (  # noqa: F401
    conv_bn_act,
    fused_inverted_bottleneck,
    mobile_mqa,
    universal_inverted_bottleneck,
)
from .layers import LayerScale, MultiQueryAttention  # noqa: F401
from .mobilenet_v4 import STYLE  # noqa: F401
