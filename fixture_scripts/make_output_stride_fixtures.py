"""Generate the MobileNetV4 `output_stride` parity fixture from timm
(maintainer tool).

Run with a Python that has timm + torch (not a dependency of keras_mobilenets)::

    ../timm-venv/bin/python fixture_scripts/make_output_stride_fixtures.py

For each (timm model, output stride) in CASES this builds timm's own dilated
network, ``timm.create_model(name, pretrained=False, features_only=True,
output_stride=...)`` (timm takes `output_stride` only with `features_only`),
in eval mode, and the plain classifier ``timm.create_model(name,
pretrained=False)``; loads ``tests/v4_reference.reference_weights`` of the
classifier's state-dict layout into both (strict; the features model has the
same tensors without the head: dilation adds none); runs the features model
on ``reference_input(INPUT_SHAPE, SEED)`` and the classifier's
``forward_head`` on its last map, and stores, under the key prefix
``<name>_os<stride>_``:

* ``logits`` (1, 1000), pre-softmax;
* per ``feature_info`` tap i: ``feat{i}_stride``
  (timm's reported reduction), ``feat{i}_shape`` (NHWC), ``feat{i}_mean``
  (C,) spatial mean and ``feat{i}_corner`` (1, 4, 4, C) top-left patch
  (where padding and dilation meet).

Writes ``tests/fixtures/output_stride.npz`` (with ``timm_version``, ``seed``,
``input_shape``, ``cases``). Weights are not stored.
"""
import os
import sys

import numpy as np
import timm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
from v4_reference import reference_input, reference_weights  # noqa: E402

CASES = [
    ("mobilenetv4_conv_small", 16),
    ("mobilenetv4_conv_small", 8),
    # attention with key/value downsampling in a dilated stage
    ("mobilenetv4_hybrid_medium", 8),
]
SEED = 0
INPUT_SHAPE = (1, 96, 128, 3)  # non-square, small: cheap in CI
CORNER = 4
OUT = os.path.join(REPO, "tests", "fixtures", "output_stride.npz")


def spec_of(model):
    return [(k, tuple(v.shape), str(v.dtype).replace("torch.", ""))
            for k, v in model.state_dict().items()]


def main():
    torch.manual_seed(0)
    x = reference_input(INPUT_SHAPE, seed=SEED)
    x_nchw = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    out = dict(timm_version=np.array(timm.__version__),
               seed=np.array(SEED, np.int64),
               input_shape=np.array(INPUT_SHAPE, np.int64),
               cases=np.array([f"{n}_os{s}" for n, s in CASES]))
    for name, stride in CASES:
        plain = timm.create_model(name, pretrained=False).eval().float()
        model = timm.create_model(name, pretrained=False, features_only=True,
                                  output_stride=stride).eval().float()
        weights = {k: torch.from_numpy(v) for k, v in
                   reference_weights(spec_of(plain), seed=SEED).items()}
        plain.load_state_dict(weights, strict=True)
        body = model.state_dict()
        model.load_state_dict({k: weights[k] for k in body}, strict=True)
        key = f"{name}_os{stride}_"
        with torch.no_grad():
            feats = model(x_nchw)
            out[key + "logits"] = plain.forward_head(feats[-1]).numpy()
        for i, (f, info) in enumerate(zip(feats, model.feature_info.get_dicts())):
            f = f.numpy().transpose(0, 2, 3, 1).astype(np.float32)
            out[key + f"feat{i}_stride"] = np.array(info["reduction"], np.int64)
            out[key + f"feat{i}_shape"] = np.array(f.shape, np.int64)
            out[key + f"feat{i}_mean"] = f.mean(axis=(0, 1, 2))
            out[key + f"feat{i}_corner"] = f[:, :CORNER, :CORNER, :]
        print(f"{name} output_stride={stride}: max|logit|="
              f"{np.abs(out[key + 'logits']).max():.3f}, taps "
              f"{[(r, tuple(f.shape[2:])) for r, f in zip(model.feature_info.reduction(), feats)]}",
              flush=True)
    np.savez_compressed(OUT, **out)
    print(f"-> {os.path.relpath(OUT, REPO)} {os.path.getsize(OUT) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
