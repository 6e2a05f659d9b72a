"""Generate the parity fixture of torchvision's SSDLite
(`ssdlite320_mobilenet_v3_large`) for `keras_mobilenets.detection.SSDLite`
(maintainer tool; never run in CI).

Run with a Python that has torchvision + torch (not a dependency of
keras_mobilenets)::

    /work/timm-venv/bin/python fixture_scripts/make_ssdlite_model_fixtures.py

It

1. builds ``ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None,
   num_classes=91)`` in eval mode (its reduced tail, as its COCO weights) and
   records its state_dict spec (names, shapes, dtypes, in order) and
   parameter count (``p.numel()`` over ``model.parameters()``: 3,440,060);
2. loads ``tests/v4_reference.reference_weights(spec, SEED)``, then gives
   every BatchNorm random statistics near those of its input
   (``calibrate``, as make_timm_v1_v3_fixtures.py);
3. runs ``pixels(INPUT_SHAPE, SEED)`` (two 320 x 320 images in [0, 255],
   NHWC; see below) through SSD's own steps, ``head(backbone((x / 255 -
   0.5) / 0.5))`` (what ``SSD.forward`` does after its transform, whose
   resize is the identity at 320 x 320 and which this checks), in float64
   (the reference) and float32, and writes
   ``tests/fixtures/ssdlite_model.npz``: the spec, seed, param count, the
   BatchNorm statistics (``stats:<tensor name>``, float32), ``boxes64``
   (2, 3234, 4), ``logits64`` at anchors ``[::5]`` and classes ``[::3]``
   (a sample, to keep the file small), both rounded to float32 once, and ``float32_error``, torchvision's
   own max |float32 - float64| over both outputs.

The other weights are not stored: ``reference_weights`` regenerates them
from the spec. ``pixels(shape, seed)`` is
``clip(127.5 + 50 * reference_input(shape, seed), 0, 255)``.
"""
import os
import sys

import numpy as np
import torch
import torchvision
from torchvision.models.detection import ssdlite320_mobilenet_v3_large

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, HERE)
from make_timm_v1_v3_fixtures import calibrate  # noqa: E402
from v4_reference import (  # noqa: E402
    reference_input, reference_weights, spec_arrays)

SEED = 0
INPUT_SHAPE = (2, 320, 320, 3)
ANCHORS, CLASSES = slice(None, None, 5), slice(None, None, 3)
OUT = os.path.join(REPO, "tests", "fixtures", "ssdlite_model.npz")


def pixels(shape, seed):
    return np.clip(127.5 + 50.0 * reference_input(shape, seed), 0.0, 255.0)


class _Detector(torch.nn.Module):
    """backbone + head of an SSD, on normalised NCHW images: what
    `calibrate` runs (it calls the module on an NCHW tensor)."""

    def __init__(self, ssd):
        super().__init__()
        self.backbone, self.head = ssd.backbone, ssd.head

    def forward(self, x):
        out = self.head(list(self.backbone(x).values()))
        return out["bbox_regression"], out["cls_logits"]


def main():
    torch.manual_seed(0)
    ssd = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None,
                                        num_classes=91).eval()
    sd = ssd.state_dict()
    spec = [(k, tuple(v.shape), str(v.dtype).replace("torch.", ""))
            for k, v in sd.items()]
    param_count = sum(p.numel() for p in ssd.parameters())
    weights = reference_weights(spec, seed=SEED)
    ssd.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()},
                        strict=True)
    x = pixels(INPUT_SHAPE, SEED)
    normalised = (x / 255.0 - 0.5) / 0.5  # SSDLite's image_mean, image_std
    detector = _Detector(ssd)
    calibrate(detector, normalised, SEED)
    stats = {f"stats:{k}": v.float().numpy() for k, v in ssd.state_dict().items()
             if k.endswith(("running_mean", "running_var"))}
    nchw = torch.from_numpy(np.ascontiguousarray(normalised.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        boxes32, logits32 = (t.numpy() for t in detector.float()(nchw.float()))
        boxes64, logits64 = (t.numpy() for t in detector.double()(nchw.double()))
        # SSD's transform is the identity on 320 x 320 images.
        images = [torch.from_numpy(im.transpose(2, 0, 1) / 255.0).float()
                  for im in x]
        batch, _ = ssd.float().transform(images)
        assert torch.allclose(batch.tensors, nchw.float(), atol=1e-6)
    error = float(max(np.abs(boxes32 - boxes64).max(),
                      np.abs(logits32 - logits64).max()))
    out = dict(
        torchvision_version=np.array(torchvision.__version__),
        seed=np.array(SEED, np.int64),
        param_count=np.array(param_count, np.int64),
        **spec_arrays(spec),
        input_shape=np.array(INPUT_SHAPE, np.int64),
        boxes64=boxes64.astype(np.float32),  # float64 results, rounded once
        logits64=logits64[:, ANCHORS, CLASSES].astype(np.float32),
        float32_error=np.array(error),
        **stats,
    )
    np.savez_compressed(OUT, **out)
    print(f"params={param_count:,} boxes {boxes64.shape} max|box|="
          f"{np.abs(boxes64).max():.3f} max|logit|={np.abs(logits64).max():.3f} "
          f"float32 error {error:.3g} -> {os.path.relpath(OUT, REPO)} "
          f"{os.path.getsize(OUT) / 1e3:.1f} kB", flush=True)


if __name__ == "__main__":
    main()
