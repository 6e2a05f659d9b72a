"""torchvision's SSDLite state dicts (safetensors, or a local .pth read by
PyTorch's `weights_only` loader) to Keras weights, by names: no model
module imported.

`ssdlite320_mobilenet_v3_large` splits its backbone's `features` at C4, the
expansion of the first stride-32 block (`SSDLiteFeatureExtractorMobileNet`):
`backbone.features.0` holds blocks 0 to c4 - 1 then that block's
`block.0`, `backbone.features.1` the rest of that block (its item 0, a
slice of `block` that keeps its indices: `1.0.1` is `block.1`) then the
later blocks. `classifier_names` undoes the split, so the tensors
take the names of torchvision's MobileNetV3 classifier, which the layers
of `TorchvisionMobileNetV3Large` carry (`naming.torchvision_v3`), and drops
the `backbone.` prefix (the extra blocks are `extra_...`, the heads
`head_...`); `timm.convert_state_dict` then converts by layer type.
"""

import os
import re

from ..errors import WeightsError
from . import h5, timm

_FIRST = re.compile(r"^backbone\.features\.0\.(\d+)\.(.*)$")
_SECOND = re.compile(r"^backbone\.features\.1\.(\d+)\.(.*)$")
_SPLIT_BLOCK = re.compile(r"^(\d+)\.(.*)$")


def classifier_names(state_dict):
    """{torchvision classifier-style name: tensor} of an SSDLite state dict
    (see the module docstring); raises a WeightsError where its backbone
    is not split in two at C4."""
    firsts = [int(m.group(1)) for m in map(_FIRST.match, state_dict) if m]
    if not firsts or not any(map(_SECOND.match, state_dict)):
        raise WeightsError(
            "Expected a torchvision SSDLite state dict (tensors named "
            "backbone.features.0.*, backbone.features.1.*, backbone.extra.*, "
            f"head.*). Received: {len(state_dict)} tensors, e.g. "
            f"{sorted(state_dict)[:3]}")
    c4 = max(firsts)  # the expansion of block c4, the last module of features.0
    out = {}
    for name, value in state_dict.items():
        first, second = _FIRST.match(name), _SECOND.match(name)
        if first:
            i, rest = int(first.group(1)), first.group(2)
            new = (f"features.{c4}.block.0.{rest}" if i == c4
                   else f"features.{i}.{rest}")
        elif second:
            m, rest = int(second.group(1)), second.group(2)
            inner = _SPLIT_BLOCK.match(rest) if m == 0 else None
            if m == 0 and not inner:
                raise WeightsError(
                    f"Unexpected tensor {name!r}: backbone.features.1.0 is "
                    "the rest of the C4 block, a Sequential of modules.")
            new = (f"features.{c4}.block.{rest}" if m == 0
                   else f"features.{c4 + m}.{rest}")
        else:
            new = name[len("backbone."):] if name.startswith("backbone.") \
                else name
        out[new] = value
    return out


def convert_ssdlite(model, state_dict, source="The state dict"):
    """{layer name: [arrays]} of an SSDLite state dict {name: array} for
    `model` (strict, `timm.convert_state_dict`; names in messages are the
    classifier-style ones of `classifier_names`)."""
    return timm.convert_state_dict(model, classifier_names(state_dict),
                                   source=source)


def load_ssdlite_safetensors(model, path):
    """Loads the torchvision SSDLite state dict saved at `path`
    (.safetensors) into `model`, all or nothing."""
    source = os.path.basename(path)
    arrays = convert_ssdlite(model, timm.read_safetensors(path), source)
    h5.assign_strict(model, arrays, source)


def arrays_of(state, source):
    """{name: NumPy array} of a PyTorch state dict {name: tensor}."""
    import torch

    if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(
            f"{source} is not a state dict (a dict of tensors). Received: "
            f"{type(state).__name__}")
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def read_pth(path):
    """{name: NumPy array} of a PyTorch state dict file, read with
    `torch.load(..., weights_only=True)` (PyTorch's loader that unpickles
    tensors and plain containers only, never code)."""
    import torch  # only for the converter: building a model needs none

    state = torch.load(path, map_location="cpu", weights_only=True)
    return arrays_of(state, path)


def download_ssdlite():
    """torchvision's COCO SSDLite state dict, through torchvision's own
    weights enum and download (`SSDLite320_MobileNet_V3_Large_Weights.
    COCO_V1`, its pinned hash checked), read with `weights_only=True`."""
    try:
        from torchvision.models.detection import (
            SSDLite320_MobileNet_V3_Large_Weights)
    except ImportError:
        raise ValueError(
            "Getting torchvision's weights needs torchvision (pip install "
            "torchvision); without it, pass a state dict saved with "
            "torch.save(model.state_dict(), FILE) as --state-dict FILE. "
            "Received: no torchvision") from None
    weights = SSDLite320_MobileNet_V3_Large_Weights.COCO_V1
    state = weights.get_state_dict(progress=True, check_hash=True,
                                   weights_only=True)
    return arrays_of(state, weights.url)
