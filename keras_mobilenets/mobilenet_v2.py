"""keras.applications-style module of MobileNetV2: the builders,
`preprocess_input` and `decode_predictions` (the network: `archs/mobilenet_v2.py`)."""

from .archs.mobilenet_v2 import (  # noqa: F401
    MobileNetV2,
    preprocess_input,
)
from .labels import decode_predictions  # noqa: F401
