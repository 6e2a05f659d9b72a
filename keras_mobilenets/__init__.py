"""The MobileNet family for Keras 3, on every backend, with pretrained weights."""

from . import mobilenet, mobilenet_v2, mobilenet_v3
from .imagenet import decode_predictions
from .mobilenet import MobileNet, MobileNetV1
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from .weights import WeightsError

__version__ = "0.1.0"
