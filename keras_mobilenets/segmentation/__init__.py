"""Semantic segmentation on any MobileNet: LR-ASPP, DeepLabV3 and
DeepLabV3+ heads (`heads`) and builders called like the classifiers
(`models`)."""

from .heads import (  # noqa: F401
    ResizeLike,
    aspp,
    deeplab_head,
    deeplabv3plus_decoder,
    lraspp_head,
)
from .models import LRASPP, DeepLabV3, DeepLabV3Plus, mean_iou  # noqa: F401

MODELS = {"LRASPP": LRASPP, "DeepLabV3": DeepLabV3,
          "DeepLabV3Plus": DeepLabV3Plus}
