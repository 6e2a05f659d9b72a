"""keras.applications-style module of MobileNetV3: the builders,
`preprocess_input` and `decode_predictions` (the network: `archs/mobilenet_v3.py`)."""

from .archs.mobilenet_v3 import (  # noqa: F401
    MobileNetV3Large,
    MobileNetV3Small,
    preprocess_input,
)
from .labels import decode_predictions  # noqa: F401
