"""The MobileNet architectures: each module holds its tables and registers
its public builders. Importing this package registers them all."""

from . import mobilenet_v1, mobilenet_v2, mobilenet_v3, mobilenet_v4  # noqa: F401
