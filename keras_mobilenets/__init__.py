"""The MobileNet family for Keras 3, on every backend, with pretrained weights."""

from . import _startup  # noqa: F401  (first: quiets the command line's start-up)

from . import archs  # noqa: F401  (registers every model)
from . import blocks, features, layers, registry  # noqa: F401
from . import mobilenet, mobilenet_v2, mobilenet_v3, mobilenet_v4  # noqa: F401
from .data import (  # noqa: F401
    RandomResizedCrop, data_config, eval_transform, train_transform)
from .errors import DownloadError, WeightsError  # noqa: F401
from .features import feature_model  # noqa: F401
from .fold import fold_batch_norm  # noqa: F401
from .labels import decode_predictions  # noqa: F401
from .macs import count_macs  # noqa: F401
from .model import Model  # noqa: F401
from .presets import from_preset  # noqa: F401
from .training import train  # noqa: F401
from .mobilenet import MobileNet, MobileNetV1  # noqa: F401
from .mobilenet_v2 import MobileNetV2  # noqa: F401
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small  # noqa: F401
from .mobilenet_v4 import *  # noqa: F401,F403  (the V4 builders: its __all__)
from .archs.timm_mobilenet_v1 import (  # noqa: F401
    TimmMobileNetV1, TimmMobileNetV1H)
from .archs.timm_mobilenet_v2 import (  # noqa: F401
    TimmMobileNetV2, TimmMobileNetV2D110, TimmMobileNetV2D120)
from .archs.timm_mobilenet_v3 import (  # noqa: F401
    TfMobileNetV3Large,
    TfMobileNetV3LargeMinimal,
    TfMobileNetV3Small,
    TfMobileNetV3SmallMinimal,
    TimmMobileNetV3Large,
    TimmMobileNetV3LargeD150,
    TimmMobileNetV3RW,
    TimmMobileNetV3Small,
)

from .archs.torchvision_mobilenet_v3 import (  # noqa: F401
    TorchvisionMobileNetV3Large)
from .archs.mobilenet_v5 import (  # noqa: F401
    MobileNetV5Base, MobileNetV5_300M, MobileNetV5_300MEncoder)

__version__ = "0.1.0"
