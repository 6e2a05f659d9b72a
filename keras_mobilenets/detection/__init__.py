"""Object detection on any MobileNet (issue 21)."""

from .ssdlite import SSDLite  # noqa: F401
