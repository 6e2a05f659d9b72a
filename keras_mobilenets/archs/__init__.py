"""The MobileNet architectures: each module holds its tables and registers
its public builders. Importing this package registers them all."""

from . import mobilenet_v1, mobilenet_v2, mobilenet_v3, mobilenet_v4  # noqa: F401
from . import timm_mobilenet_v1, timm_mobilenet_v2, timm_mobilenet_v3  # noqa: F401
from . import torchvision_mobilenet_v3  # noqa: F401
from . import mobilenet_v5  # noqa: F401
