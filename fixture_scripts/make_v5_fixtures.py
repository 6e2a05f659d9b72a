"""Generate the MobileNetV5 parity fixtures from timm (maintainer tool; never
run in CI).

Run with a Python that has timm + torch (not a dependency of keras_mobilenets)::

    /path/to/timm-venv/bin/python fixture_scripts/make_v5_fixtures.py

Writes `tests/fixtures/v5/<padding>.npz` for the two small networks of
`tests/v5_reference.py` (timm's `MobileNetV5` with its default padding and
a 10-class classifier; `MobileNetV5Encoder` with `pad_type="same"`), built
with timm's own conventions for MobileNetV5 (RmsNorm2d, GELU tanh, layer
scale 1e-5, stem bias), the weights of `v5_reference.reference_weights`
loaded strictly: the state-dict spec, seed, parameter count, input shape,
timm's output in float64 (`out64`: logits, or the adapter's map as NHWC),
its float32 error (`float32_error`, max |float32 - float64|), and its five
feature taps (`forward_intermediates`, NHWC, float64) for the first image.
Weights are not stored.

With `--full NAME FOLDER SIZE` (not a fixture: 1.2 GB), timm's real network
with the same kind of weights, written to FOLDER with its float32 and float64
outputs at SIZE x SIZE, for `fixture_scripts/v5_full_parity.py`.

And `tests/fixtures/v5/archs.json`: timm's decoded block arguments of the
three real networks (`mobilenetv5_300m`, `_enc`, `_base`), their parameter
counts, feature taps and pretrained cfgs, which the tests hold our tables
to without building 294M parameters.
"""
import json
import os
import sys

import numpy as np
import torch

# torch's CPU wheel and torchvision's PyPI wheel (built for CUDA torch) load
# together only if these two ops, which timm never calls, are declared
# before torchvision registers fake kernels for them.
for _op in ("nms", "qnms"):
    try:
        torch.library.define(f"torchvision::{_op}", "(Tensor dets, Tensor "
                             "scores, float iou_threshold) -> Tensor")
    except RuntimeError:  # a torchvision that loads its own ops
        pass

import timm  # noqa: E402
from timm.layers import RmsNorm2d  # noqa: E402
from timm.models._efficientnet_builder import decode_arch_def  # noqa: E402
from timm.models.mobilenetv5 import (  # noqa: E402
    _GELU, MobileNetV5, MobileNetV5Encoder)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
from v4_reference import reference_input, spec_arrays  # noqa: E402
import v5_reference as ref  # noqa: E402

OUT_DIR = os.path.join(REPO, "tests", "fixtures", "v5")
REAL = ("mobilenetv5_300m", "mobilenetv5_300m_enc", "mobilenetv5_base")


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _nhwc(t):
    return t.numpy().transpose(0, 2, 3, 1)


def _maps(t):
    return _nhwc(t) if t.ndim == 4 else t.numpy()


def small_model(padding):
    kwargs = dict(
        block_args=decode_arch_def(ref.TIMM_STAGES), stem_size=ref.STEM,
        norm_layer=RmsNorm2d, act_layer=_GELU, layer_scale_init_value=1e-5,
        msfa_output_resolution=ref.OUTPUT_RESOLUTION[padding])
    if padding == "same":
        return MobileNetV5Encoder(pad_type="same", **kwargs)
    return MobileNetV5(num_classes=ref.CLASSES[padding],
                       num_features=ref.NECK_FILTERS[padding], **kwargs)


def make_fixture(padding):
    model = small_model(padding).eval()
    if padding == "same":  # the encoder's width is fixed at 2048
        assert model.num_features == 2048
    sd = model.state_dict()
    spec = [(k, tuple(v.shape), str(v.dtype).replace("torch.", ""))
            for k, v in sd.items()]
    weights = ref.reference_weights(spec, ref.SEED)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()},
                          strict=True)
    shape = ref.INPUT_SHAPE[padding]
    x = reference_input(shape, seed=ref.SEED)
    with torch.no_grad():
        out32 = model.float()(_nchw(x))
        model.double()
        out64 = model(_nchw(x).double())
        feats = model.forward_intermediates(_nchw(x[:1]).double(),
                                            intermediates_only=True)
    if out64.ndim == 4:
        out32, out64 = _nhwc(out32), _nhwc(out64)
    else:
        out32, out64 = out32.numpy(), out64.numpy()
    error = float(np.abs(out32.astype(np.float64) - out64).max())
    out = dict(
        timm_version=np.array(timm.__version__),
        seed=np.array(ref.SEED, np.int64),
        param_count=np.array(sum(p.numel() for p in model.parameters()),
                             np.int64),
        **spec_arrays(spec),
        input_shape=np.array(shape, np.int64),
        out64=out64, float32_error=np.array(error),
        feature_strides=np.array([f["reduction"] for f in model.feature_info]),
        **{f"feature{i}": _nhwc(f) for i, f in enumerate(feats)},
    )
    path = os.path.join(OUT_DIR, f"{padding}.npz")
    np.savez_compressed(path, **out)
    print(f"{padding}: params={int(out['param_count']):,} out {out64.shape} "
          f"max|out|={np.abs(out64).max():.3f} float32 error {error:.3g} -> "
          f"{os.path.relpath(path, REPO)} {os.path.getsize(path) / 1e3:.1f} kB")


def _block(ba):
    keep = ("block_type", "stride", "out_chs", "exp_ratio", "dw_kernel_size",
            "exp_kernel_size",
            "dw_kernel_size_start", "dw_kernel_size_mid", "num_heads",
            "key_dim", "kv_stride", "noskip")
    return {k: ba[k] for k in keep if k in ba}


def make_archs():
    from timm.models import get_pretrained_cfg

    archs = {}
    for name in REAL:
        model = timm.create_model(name, pretrained=False)
        stem = model.conv_stem
        archs[name] = dict(
            params=sum(p.numel() for p in model.parameters()),
            classes=getattr(model, "num_classes", 0),
            stem=dict(out_chs=stem.conv.out_channels,
                      bias=stem.conv.bias is not None),
            stem_padding=type(stem.conv).__name__,
            feature_info=[dict(f) for f in model.feature_info],
            msfa=dict(in_chs=model.msfa.in_channels,
                      out_chs=model.msfa.out_channels,
                      output_resolution=list(model.msfa.output_resolution),
                      expansion_ratio=model.msfa.expansion_ratio,
                      noskip=model.msfa.noskip),
            layer_scale=[n for n, _ in model.named_parameters()
                         if n.endswith("gamma")][:3],
        )
        del model
    # The block arguments, decoded by timm from its arch strings.
    import timm.models.mobilenetv5 as mnv5
    captured = {}
    original = mnv5.decode_arch_def

    def capture(arch_def, **kw):
        args = original(arch_def, **kw)
        # timm's builder pops `block_type` from the dicts it is given.
        captured["args"] = [[dict(b) for b in stage] for stage in args]
        return args

    mnv5.decode_arch_def = capture
    try:
        for name in REAL:
            with torch.device("meta"):
                timm.create_model(name, pretrained=False)
            archs[name]["blocks"] = [[_block(b) for b in stage]
                                     for stage in captured["args"]]
    finally:
        mnv5.decode_arch_def = original
    cfgs = {}
    for tagged in timm.list_models("mobilenetv5*", pretrained=True):
        cfg = get_pretrained_cfg(tagged).to_dict()
        cfgs[tagged] = {k: cfg.get(k) for k in (
            "num_classes", "input_size", "crop_pct", "mean", "std",
            "interpolation", "license", "hf_hub_id")}
    path = os.path.join(OUT_DIR, "archs.json")
    with open(path, "w") as f:
        json.dump(dict(timm_version=timm.__version__, archs=archs,
                       pretrained_cfgs=cfgs), f, indent=1, sort_keys=True)
    print(f"{len(archs)} architectures, {len(cfgs)} pretrained cfgs -> "
          f"{os.path.relpath(path, REPO)}")


def make_full(name, folder, size):
    """Not a fixture (about 1.2 GB): timm's real `name` with the reference
    weights as `<folder>/<name>.safetensors`, and `<name>_<size>.npz`: its
    float32 and float64 outputs on `reference_input((1, size, size, 3))`
    (NHWC; `mobilenetv5_300m` without a classifier pools them), for
    `fixture_scripts/v5_full_parity.py` to compare ours with."""
    model = timm.create_model(name, pretrained=False).eval()
    spec = [(k, tuple(v.shape), str(v.dtype).replace("torch.", ""))
            for k, v in model.state_dict().items()]
    weights = ref.reference_weights(spec, ref.SEED)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()},
                          strict=True)
    from safetensors.numpy import save_file
    os.makedirs(folder, exist_ok=True)
    save_file(weights, os.path.join(folder, f"{name}.safetensors"))
    del weights
    x = reference_input((1, size, size, 3), seed=ref.SEED)
    with torch.no_grad():
        out32 = _maps(model.float()(_nchw(x)))
        out64 = _maps(model.double()(_nchw(x).double()))
    error = float(np.abs(out32.astype(np.float64) - out64).max())
    np.savez(os.path.join(folder, f"{name}_{size}.npz"), out32=out32,
             out64=out64, float32_error=error, input_shape=x.shape)
    print(f"{name} at {size}: out {out64.shape}, float32 error {error:.3g}")


def main(argv):
    torch.manual_seed(0)
    if argv[:1] == ["--full"]:  # --full NAME FOLDER SIZE
        make_full(argv[1], argv[2], int(argv[3]))
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    for padding in argv or ("symmetric", "same"):
        make_fixture(padding)
    if not argv:
        make_archs()


if __name__ == "__main__":
    main(sys.argv[1:])
