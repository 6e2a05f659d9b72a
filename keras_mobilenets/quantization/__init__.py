"""Int8 quantization-aware training: `prepare` a model, `calibrate` its
activation ranges, fine-tune it with `fit` on any backend, and
`export_litert` an int8 LiteRT file from the ranges it learned."""

from .calibration import calibrate, freeze_ranges  # noqa: F401
from .export import export_litert  # noqa: F401
from .graph import prepare  # noqa: F401
from .layers import (  # noqa: F401
    ActivationQuantizer, QuantizedConv2D, QuantizedDense)
