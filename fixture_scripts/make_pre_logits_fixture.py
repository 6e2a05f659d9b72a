"""Writes tests/fixtures/v4_pre_logits.npz: timm's pre-logits features,
`model.forward_head(model.forward_features(x), pre_logits=True)` (global
pooling, `conv_head`, `norm_head` and its activation: the 1280-wide vector
before the classifier), of two MobileNetV4 with the weights of the V4
parity fixtures (`tests/v4_reference.reference_weights` of the model's
state-dict spec, seed 0) on `reference_input` of their small input shape, for
`include_pre_logits=True` in tests/test_pre_logits.py.

    ../timm-venv/bin/python fixture_scripts/make_pre_logits_fixture.py

Stored per model: `<name>` (2, 1280) float32 and `<name>_input_shape`
(NHWC); and `seed`, `timm_version`.
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

MODELS = ["mobilenetv4_conv_small_050", "mobilenetv4_hybrid_medium"]
SEED = 0
INPUT_SHAPE = (2, 160, 192, 3)  # the fixtures' small, non-square shape
OUT = os.path.join(REPO, "tests", "fixtures", "v4_pre_logits.npz")


def pre_logits(name):
    model = timm.create_model(name, pretrained=False).eval().float()
    spec = [(k, tuple(v.shape), str(v.dtype).replace("torch.", ""))
            for k, v in model.state_dict().items()]
    weights = reference_weights(spec, seed=SEED)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()},
                          strict=True)
    x = reference_input(INPUT_SHAPE, seed=SEED)
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        features = model.forward_head(model.forward_features(x),
                                      pre_logits=True).numpy()
        logits = model(x).numpy()
    # The pre-logits are what the classifier reads.
    head = model.get_classifier()
    np.testing.assert_allclose(
        features @ head.weight.detach().numpy().T + head.bias.detach().numpy(), logits,
        rtol=1e-4, atol=1e-4)
    return features.astype(np.float32)


def main():
    out = {"seed": np.array(SEED, np.int64),
           "timm_version": np.array(timm.__version__)}
    for name in MODELS:
        out[name] = pre_logits(name)
        out[f"{name}_input_shape"] = np.array(INPUT_SHAPE, np.int64)
        print(name, out[name].shape, f"max |x| {np.abs(out[name]).max():.3f}")
    np.savez_compressed(OUT, **out)
    print(os.path.relpath(OUT, REPO), f"{os.path.getsize(OUT) / 1e3:.1f} kB")


if __name__ == "__main__":
    main()
