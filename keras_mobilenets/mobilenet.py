"""keras.applications-style module of MobileNet (V1): the builders,
`preprocess_input` and `decode_predictions` (the network: `archs/mobilenet_v1.py`)."""

from .archs.mobilenet_v1 import (  # noqa: F401
    MobileNet,
    MobileNetV1,
    preprocess_input,
)
from .labels import decode_predictions  # noqa: F401
