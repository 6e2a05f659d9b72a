"""keras.applications-style module of MobileNetV4: the builders,
`preprocess_input` and `decode_predictions` (the network: `archs/mobilenet_v4.py`)."""

from .archs.mobilenet_v4 import (  # noqa: F401
    MobileNetV4ConvAALarge,
    MobileNetV4ConvBlurMedium,
    MobileNetV4ConvLarge,
    MobileNetV4ConvMedium,
    MobileNetV4ConvSmall,
    MobileNetV4HybridLarge,
    MobileNetV4HybridMedium,
    preprocess_input,
)
from .labels import decode_predictions  # noqa: F401

# The builders: what `keras_mobilenets` takes from here (`import *`), not
# `preprocess_input` (V4's own) nor `decode_predictions` (the package's).
__all__ = [
    "MobileNetV4ConvAALarge",
    "MobileNetV4ConvBlurMedium",
    "MobileNetV4ConvLarge",
    "MobileNetV4ConvMedium",
    "MobileNetV4ConvSmall",
    "MobileNetV4HybridLarge",
    "MobileNetV4HybridMedium",
]
