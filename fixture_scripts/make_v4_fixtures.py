"""Generate MobileNetV4 parity fixtures from timm (maintainer tool).

Run with a Python that has timm + torch (not a dependency of keras_mobilenets)::

    /path/to/timm-venv/bin/python fixture_scripts/make_v4_fixtures.py [model ...]

For each timm model (default: the six below) this

1. builds ``timm.create_model(name, pretrained=False)`` in eval mode, float32;
2. records its state_dict spec (names, shapes, dtypes, in state_dict order) and
   the parameter count (sum of ``p.numel()`` over ``model.parameters()``, i.e.
   without BN running stats / num_batches_tracked);
3. loads ``tests/v4_reference.reference_weights(spec, SEED)`` (strict);
4. runs the model on ``reference_input(shape, SEED)`` (NHWC, transposed to NCHW
   for timm) and writes ``tests/fixtures/v4/<name>.npz`` (savez_compressed).

Stored per model (weights are NOT stored, they are regenerated from the spec):

* ``spec_names`` (str), ``spec_shapes`` (int64, (N, 4), padded with -1),
  ``spec_ndim``, ``spec_dtypes`` (str); ``seed``; ``param_count``;
  ``timm_version``; ``model_name``; ``pretrained_tag`` (timm default tag).
* ``input_shape_native`` = (2, H, W, 3) with (H, W) the default pretrained
  cfg ``input_size`` of the model, and ``logits_native`` (2, 1000).
* ``input_shape_small`` = (2, 160, 192, 3) (non-square on purpose: catches
  H/W mix-ups, e.g. in the attention reshapes) and ``logits_small`` (2, 1000).
  Logits are pre-softmax.
* Features: ``model.forward_intermediates(x, intermediates_only=True)`` (all
  ``feature_info`` taps: ``bn1`` stride 2, ``blocks.0`` stride 4, ``blocks.1``
  stride 8, ``blocks.2`` stride 16, ``blocks.4`` stride 32 -- i.e. the output
  of the final 1x1 ConvBnAct to 960*multiplier channels, NOT of blocks.3) for
  batch 1 = ``reference_input(input_shape_small)[:1]``, i.e. the first image of
  the small-resolution batch.  Metadata ``feature_modules``,
  ``feature_strides``, ``feature_channels``, ``feature_kinds``.
  Size policy (all fixtures together must stay well under 5 MB, and random
  float32 does not compress): taps with stride >= 8 are stored in full as
  ``feat{i}_full`` (1, H, W, C) NHWC; taps with stride < 8 (stem, stage 0) are
  stored as ``feat{i}_mean`` (C,) spatial mean plus ``feat{i}_corner``
  (1, 8, 8, C) top-left corner patch (the corner exercises the padding).

Prints max |logit| and the param count per model.

Besides, on every run (small, no model forward):

* ``tests/fixtures/v4/downsample.npz``: timm's anti-aliasing layers
  (``create_aa("blurpc" | "avg", channels, stride=2)``, what
  ``mobilenetv4_conv_blur_medium`` / ``_conv_aa_large`` use, and a 5-tap
  ``BlurPool2d``) on ``reference_input`` of odd and even sizes: ``<case>_x``
  (NHWC) and ``<case>_y`` (NHWC), with ``cases``.
* ``tests/fixtures/v4/checkpoints.json``: timm's ``pretrained_cfg`` of every
  ``mobilenetv4*`` tag with weights (``timm.list_pretrained``), and for tags
  whose ``num_classes`` is not 1000 the classifier shapes of
  ``timm.create_model(arch, num_classes=...)``.
"""
import json
import os
import sys

import numpy as np
import timm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
from v4_reference import (  # noqa: E402
    reference_input, reference_weights, spec_arrays)

MODELS = [
    "mobilenetv4_conv_small",
    "mobilenetv4_conv_small_050",
    "mobilenetv4_conv_medium",
    "mobilenetv4_conv_large",
    "mobilenetv4_hybrid_medium",
    "mobilenetv4_hybrid_large",
    "mobilenetv4_conv_aa_large",
    "mobilenetv4_conv_blur_medium",
]
SEED = 0
SMALL_HW = (160, 192)
FULL_MIN_STRIDE = 8
CORNER = 8
OUT_DIR = os.path.join(REPO, "tests", "fixtures", "v4")


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def make_fixture(name):
    model = timm.create_model(name, pretrained=False).eval().float()
    sd = model.state_dict()
    spec = [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in sd.items()]
    param_count = sum(p.numel() for p in model.parameters())
    weights = reference_weights(spec, seed=SEED)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)

    native_hw = tuple(model.pretrained_cfg["input_size"][1:])
    shape_native = (2, *native_hw, 3)
    shape_small = (2, *SMALL_HW, 3)
    x_native = reference_input(shape_native, seed=SEED)
    x_small = reference_input(shape_small, seed=SEED)
    with torch.no_grad():
        logits_native = model(_nchw(x_native)).numpy()
        logits_small = model(_nchw(x_small)).numpy()
        feats = model.forward_intermediates(_nchw(x_small[:1]), intermediates_only=True)

    info = model.feature_info
    assert len(feats) == len(info), (len(feats), len(info))
    out = dict(
        model_name=np.array(name),
        pretrained_tag=np.array(model.pretrained_cfg.get("tag") or ""),
        timm_version=np.array(timm.__version__),
        seed=np.array(SEED, np.int64),
        param_count=np.array(param_count, np.int64),
        **spec_arrays(spec),
        input_shape_native=np.array(shape_native, np.int64),
        input_shape_small=np.array(shape_small, np.int64),
        logits_native=logits_native.astype(np.float32),
        logits_small=logits_small.astype(np.float32),
        feature_modules=np.array([f["module"] for f in info]),
        feature_strides=np.array([f["reduction"] for f in info], np.int64),
        feature_channels=np.array([f["num_chs"] for f in info], np.int64),
    )
    kinds = []
    for i, (f, fi) in enumerate(zip(feats, info)):
        f = f.numpy().transpose(0, 2, 3, 1).astype(np.float32)  # NHWC
        assert f.shape[-1] == fi["num_chs"], (f.shape, fi)
        assert f.shape[1] == -(-SMALL_HW[0] // fi["reduction"]), (f.shape, fi)
        if fi["reduction"] >= FULL_MIN_STRIDE:
            kinds.append("full")
            out[f"feat{i}_full"] = f
        else:
            kinds.append("mean+corner")
            out[f"feat{i}_mean"] = f.mean(axis=(0, 1, 2))
            out[f"feat{i}_corner"] = f[:, :CORNER, :CORNER, :]
    out["feature_kinds"] = np.array(kinds)

    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, f"{name}.npz")
    np.savez_compressed(path, **out)
    max_logit = max(np.abs(logits_native).max(), np.abs(logits_small).max())
    print(f"{name}: params={param_count:,} max|logit|={max_logit:.3f} "
          f"(native {native_hw}, small {SMALL_HW}) -> {os.path.relpath(path, REPO)} "
          f"{os.path.getsize(path) / 1e6:.2f} MB", flush=True)
    return path


def make_downsample_fixture():
    from timm.layers import BlurPool2d, create_aa

    cases = {
        "blurpc": (create_aa("blurpc", channels=3, stride=2), (2, 7, 10, 3)),
        "blurpc_even": (create_aa("blurpc", channels=3, stride=2), (1, 8, 6, 3)),
        "blur5_constant": (BlurPool2d(4, filt_size=5, stride=2, pad_mode="constant"),
                           (1, 9, 8, 4)),
        "avg": (create_aa("avg", channels=3, stride=2), (2, 7, 10, 3)),
    }
    out = dict(cases=np.array(list(cases)), timm_version=np.array(timm.__version__))
    for case, (layer, shape) in cases.items():
        x = reference_input(shape, seed=SEED)
        with torch.no_grad():
            y = layer.eval()(_nchw(x)).numpy().transpose(0, 2, 3, 1)
        out[f"{case}_x"], out[f"{case}_y"] = x, y.astype(np.float32)
        print(f"{case}: {type(layer).__name__} {shape} -> {y.shape}")
    np.savez_compressed(os.path.join(OUT_DIR, "downsample.npz"), **out)


CFG_KEYS = ("num_classes", "input_size", "crop_pct", "test_input_size",
            "test_crop_pct", "mean", "std", "interpolation", "crop_mode")


def make_checkpoints_fixture():
    from timm.models import get_pretrained_cfg

    cfgs, heads = {}, {}
    for name in timm.list_pretrained("mobilenetv4*"):
        cfg = get_pretrained_cfg(name).to_dict()
        cfgs[name] = {k: cfg.get(k) for k in CFG_KEYS}
        if cfg["num_classes"] != 1000:
            model = timm.create_model(name.split(".")[0], num_classes=cfg["num_classes"])
            heads[name] = {k: list(v.shape) for k, v in model.state_dict().items()
                           if k.startswith("classifier.")}
    path = os.path.join(OUT_DIR, "checkpoints.json")
    with open(path, "w") as f:
        json.dump(dict(timm_version=timm.__version__, pretrained_cfgs=cfgs,
                       classifier_shapes=heads), f, indent=1, sort_keys=True)
    print(f"{len(cfgs)} pretrained cfgs, {len(heads)} with another head -> "
          f"{os.path.relpath(path, REPO)}")


def main(argv):
    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)
    make_downsample_fixture()
    make_checkpoints_fixture()
    for name in argv or MODELS:
        make_fixture(name)


if __name__ == "__main__":
    main(sys.argv[1:])
