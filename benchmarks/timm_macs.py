"""timm's own MAC counts (fvcore), per operator, for checking count_macs.

Runs where timm, torch and fvcore are installed (not the test environment):

    /path/to/timm-venv/bin/python benchmarks/timm_macs.py

fvcore is what timm's benchmark script reports GMACs with. It counts
convolutions and linear layers as MACs, an affine BatchNorm in eval mode as
two per element, average pooling as one per input element, and skips what it
cannot trace (here: the attention of the hybrid models).
"""

import timm
import torch
from fvcore.nn import FlopCountAnalysis

MODELS = [("mobilenetv4_conv_small", 224), ("mobilenetv4_conv_medium", 256),
          ("mobilenetv4_conv_large", 384), ("mobilenetv4_hybrid_medium", 256),
          ("mobilenetv4_hybrid_large", 384), ("mobilenetv4_conv_small", 256)]

for name, size in MODELS:
    model = timm.create_model(name, pretrained=False).eval()
    count = FlopCountAnalysis(model, torch.zeros(1, 3, size, size))
    count.unsupported_ops_warnings(False)
    count.uncalled_modules_warnings(False)
    parts = ", ".join(f"{op} {macs / 1e6:.2f}M"
                      for op, macs in count.by_operator().items())
    print(f"{name} @ {size}: {count.total() / 1e6:.2f}M ({parts})")
