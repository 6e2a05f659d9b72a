"""The MobileNet family for Keras 3, on every backend, with pretrained weights."""

from . import (
    features, layers, mobilenet, mobilenet_v2, mobilenet_v3, mobilenet_v4, models,
)
from .features import feature_model
from .fold import fold_batch_norm
from .imagenet import decode_predictions
from .macs import count_macs
from .mobilenet import MobileNet, MobileNetV1
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from .mobilenet_v4 import (
    MobileNetV4ConvLarge,
    MobileNetV4ConvMedium,
    MobileNetV4ConvSmall,
    MobileNetV4HybridLarge,
    MobileNetV4HybridMedium,
)
from .weights import WeightsError

__version__ = "0.1.0"
