"""Generate the parity fixtures of timm's MobileNet V1-V3 networks
(maintainer tool; never run in CI).

Run with a Python that has timm + torch (not a dependency of keras_mobilenets)::

    /path/to/timm-venv/bin/python fixture_scripts/make_timm_v1_v3_fixtures.py [arch ...]

For each timm architecture with a published MobileNet V1-V3 checkpoint
(default: all of them, `timm.list_pretrained` of the patterns below) this

1. builds ``timm.create_model(arch, pretrained=False)`` in eval mode;
2. records its state_dict spec (names, shapes, dtypes, in state_dict order)
   and trainable parameter count (``p.numel()`` over ``model.parameters()``);
3. loads ``tests/v4_reference.reference_weights(spec, SEED)`` (float32
   values), then gives every BatchNorm random statistics near those of its
   input (``calibrate``): with the spec's own random statistics the
   activations of these deeper, unnormalised-by-design networks drift to
   per-channel constants (MobileNet V1's logits then differ by 1e-4 between
   two images), which would hide a padding error;
4. runs ``reference_input((2, 96, 128, 3), SEED)`` (NHWC, non-square on
   purpose) through the model in float64 (the reference: the same float32
   values, computed in double) and in float32, and writes
   ``tests/fixtures/timm_v1_v3/<arch>.npz``: the spec, seed, param count,
   input shape, the BatchNorm statistics (``stats:<tensor name>``, float32),
   ``logits64`` (2, 1000) and ``float32_error``, timm's own max |float32 -
   float64| logit difference (the parity tests' bar).

The other weights are not stored: ``reference_weights`` regenerates them
from the spec.

Besides: ``tests/fixtures/timm_v1_v3/checkpoints.json``, timm's
``pretrained_cfg`` of every checkpoint of these architectures.
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

PATTERNS = ["mobilenetv1*", "mobilenetv2*", "mobilenetv3*", "tf_mobilenetv3*"]
SEED = 0
INPUT_SHAPE = (2, 96, 128, 3)
OUT_DIR = os.path.join(REPO, "tests", "fixtures", "timm_v1_v3")
CFG_KEYS = ("num_classes", "input_size", "crop_pct", "test_input_size",
            "test_crop_pct", "mean", "std", "interpolation", "crop_mode")


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def calibrate(model, x, seed):
    """Sets each BatchNorm's running statistics to those of its input on
    `x` (one float64 pass in training mode, each layer normalised by the
    batch), then perturbs them: mean + N(0, 0.1) standard deviations,
    variance times U(0.7, 1.4); float32 values."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a plain average: this one batch
    model.double().train()
    with torch.no_grad():
        model(_nchw(x).double())
    model.eval()
    rng = np.random.default_rng([seed, 1])
    for bn in bns:
        mean, var = bn.running_mean.numpy(), bn.running_var.numpy()
        mean = mean + rng.normal(size=mean.shape) * 0.1 * np.sqrt(var)
        var = var * rng.uniform(0.7, 1.4, var.shape)
        bn.running_mean.copy_(torch.from_numpy(mean.astype(np.float32)))
        bn.running_var.copy_(torch.from_numpy(var.astype(np.float32)))
        bn.momentum = 0.1
        bn.num_batches_tracked.zero_()


def make_fixture(arch):
    model = timm.create_model(arch, pretrained=False).eval()
    sd = model.state_dict()
    spec = [(k, tuple(v.shape), str(v.dtype).replace("torch.", ""))
            for k, v in sd.items()]
    param_count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    weights = reference_weights(spec, seed=SEED)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()},
                          strict=True)
    x = reference_input(INPUT_SHAPE, seed=SEED)
    calibrate(model, x, SEED)
    stats = {f"stats:{k}": v.float().numpy() for k, v in model.state_dict().items()
             if k.endswith(("running_mean", "running_var"))}
    with torch.no_grad():
        logits32 = model.float()(_nchw(x)).numpy()
        logits64 = model.double()(_nchw(x).double()).numpy()
    error = float(np.abs(logits32.astype(np.float64) - logits64).max())
    out = dict(
        model_name=np.array(arch),
        timm_version=np.array(timm.__version__),
        seed=np.array(SEED, np.int64),
        param_count=np.array(param_count, np.int64),
        **spec_arrays(spec),
        input_shape=np.array(INPUT_SHAPE, np.int64),
        logits64=logits64,
        float32_error=np.array(error),
        **stats,
    )
    path = os.path.join(OUT_DIR, f"{arch}.npz")
    np.savez_compressed(path, **out)
    print(f"{arch}: params={param_count:,} max|logit|={np.abs(logits64).max():.3f} "
          f"float32 error {error:.3g} -> {os.path.relpath(path, REPO)} "
          f"{os.path.getsize(path) / 1e3:.1f} kB", flush=True)


def make_checkpoints_fixture(names):
    from timm.models import get_pretrained_cfg

    cfgs = {}
    for name in names:
        cfg = get_pretrained_cfg(name).to_dict()
        cfgs[name] = {k: cfg.get(k) for k in CFG_KEYS}
    defaults = {arch: get_pretrained_cfg(arch).to_dict().get("tag")
                for arch in sorted({n.split(".")[0] for n in names})}
    path = os.path.join(OUT_DIR, "checkpoints.json")
    with open(path, "w") as f:
        json.dump(dict(timm_version=timm.__version__, pretrained_cfgs=cfgs,
                       default_tags=defaults), f, indent=1, sort_keys=True)
    print(f"{len(cfgs)} pretrained cfgs -> {os.path.relpath(path, REPO)}")


def main(argv):
    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)
    names = timm.list_pretrained(PATTERNS)
    make_checkpoints_fixture(names)
    for arch in argv or sorted({n.split(".")[0] for n in names}):
        make_fixture(arch)


if __name__ == "__main__":
    main(sys.argv[1:])
