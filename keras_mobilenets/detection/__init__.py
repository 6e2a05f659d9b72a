"""SSD detection pieces around a MobileNet: default boxes (`anchors`), box
coding (`boxes`), matching and training targets (`targets`), the loss
(`losses`) and post-processing with NMS (`postprocess`), all equal to
torchvision's SSDLite."""

from .anchors import (  # noqa: F401
    anchors_per_location,
    default_boxes,
    ssdlite_feature_sizes,
)
from .boxes import decode, encode  # noqa: F401
from .targets import encode_targets, match_anchors  # noqa: F401
from .losses import (  # noqa: F401
    SSDBoxLoss,
    SSDClassificationLoss,
    ssd_loss,
)
from .postprocess import nms_per_class, postprocess  # noqa: F401
from .ssdlite import SSDLite  # noqa: F401
