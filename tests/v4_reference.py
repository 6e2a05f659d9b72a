"""Deterministic reference weights/inputs for MobileNetV4 parity tests (numpy only).

The fixtures in ``tests/fixtures/v4/<timm_name>.npz`` were produced by
``fixture_scripts/make_v4_fixtures.py``: it built the timm model, loaded
``reference_weights(spec)`` into it and stored timm's outputs for
``reference_input(...)``.  Weights are not stored: they are regenerated here
from the state_dict spec (name, shape, dtype), keyed by a per-tensor seed
``[seed, crc32(name)]``, so the result does not depend on tensor order.

A Keras test therefore does::

    fx = load_fixture("mobilenetv4_conv_small")
    sd = reference_weights(fx["spec"], seed=fx["seed"])     # timm-named, NCHW/OIHW
    x = reference_input(fx["input_shape_small"], seed=fx["seed"])  # NHWC float32
    ... convert sd with the same converter used for real timm checkpoints ...
    np.testing.assert_allclose(keras_model(x), fx["logits_small"], ...)

Distributions (chosen so that activations stay O(1) through the whole net and
logits are O(1..10); timm's own init -- BN identity, layer-scale 1e-5 -- would
hide bugs):

* conv / linear weight: normal * sqrt(gain / fan_in), fan_in = in/groups*kh*kw.
  gain = 2 (He) for layers followed by an activation; gain = 1 for layers that
  feed a residual sum or attention without activation (timm names ``pw_proj``,
  ``dw_start``, ``dw_end``, ``conv_pwl``, ``attn.``) and the classifier;
  gain = 0.16 for the attention output projection ``attn.output.proj`` (it
  closes a residual branch).  The final BN of each UIR/ER residual branch gets
  a smaller scale (see below), so the residual stream does not blow up over
  ~40 blocks.
* BN: weight uniform(0.5, 1.5) (uniform(0.2, 0.6) for the last BN of a
  residual branch: ``pw_proj.bn``, ``dw_end.bn``, ``bn2`` of blocks with a skip,
  see ``_residual_blocks``), bias normal*0.1,
  running_mean normal*0.1, running_var uniform(0.5, 2.0).
* layer-scale ``gamma``: uniform(0.3, 0.9) in blocks with a skip, uniform(0.5,
  1.5) in the others (timm applies layer scale in non-residual blocks too);
  far from timm's 1e-5 init and from 1, so a missing layer scale is caught.
* other biases (classifier): normal * 0.1.
* integer tensors (``num_batches_tracked``): zeros.
"""
import zlib

import numpy as np

# timm name fragments of convs that are NOT followed by an activation
_LINEAR_CONV_KEYS = ("pw_proj.", "dw_start.", "dw_end.", "conv_pwl.", "attn.", "classifier.")
# BN layers closing a residual branch (UIR: pw_proj/dw_end, EdgeResidual: bn2)
_BRANCH_END_BN_KEYS = ("pw_proj.bn.", "dw_end.bn.", ".bn2.")


def _spec_list(spec):
    """Accept the spec as list of (name, shape, dtype) or as the fixture dict."""
    if isinstance(spec, dict):
        return list(zip(spec["names"], spec["shapes"], spec["dtypes"]))
    return [(n, tuple(s), str(d)) for n, s, d in spec]


def _residual_blocks(spec):
    """Prefixes ``blocks.i.j.`` of blocks whose first conv input width equals the
    width of their last conv output.  For UIB / EdgeResidual / attention blocks
    (the only ones this is used for) that is exactly the blocks with a skip in
    MNV4, since every stride-2 block changes width."""
    convs = {}
    for n, shape, _ in spec:
        parts = n.split(".")
        if parts[0] == "blocks" and n.endswith("weight") and len(shape) == 4:
            convs.setdefault(".".join(parts[:3]) + ".", []).append(shape)
    # depthwise (C, 1, k, k) takes C inputs; otherwise (O, I, k, k) takes I
    return {b for b, ws in convs.items()
            if (ws[0][0] if ws[0][1] == 1 else ws[0][1]) == ws[-1][0]}


def spec_arrays(spec):
    """A state_dict spec [(name, shape, dtype)] as a fixture's arrays:
    spec_names, spec_shapes (padded with -1 to rank 4), spec_ndim,
    spec_dtypes (what `load_fixture` and the fixture scripts read back)."""
    return dict(
        spec_names=np.array([n for n, _, _ in spec]),
        spec_shapes=np.array([list(s) + [-1] * (4 - len(s)) for _, s, _ in spec],
                             np.int64),
        spec_ndim=np.array([len(s) for _, s, _ in spec], np.int64),
        spec_dtypes=np.array([d for _, _, d in spec]),
    )


def reference_weights(spec, seed=0):
    """Generate a timm-style state_dict {name: np.ndarray} for ``spec``.

    ``spec``: iterable of (name, shape, dtype) or the ``fixture["spec"]`` dict.
    Values depend only on (seed, name, shape, dtype).
    """
    spec = _spec_list(spec)
    bn_prefixes = {n[: -len("running_mean")] for n, _, _ in spec if n.endswith("running_mean")}
    residual_blocks = _residual_blocks(spec)
    out = {}
    for name, shape, dtype in spec:
        shape = tuple(int(s) for s in shape)
        dtype = np.dtype(str(dtype))
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        prefix, _, leaf = name.rpartition(".")
        prefix += "."
        if not np.issubdtype(dtype, np.floating):
            v = np.zeros(shape, dtype)
        elif prefix in bn_prefixes:
            if leaf == "weight":
                branch_end = any(name.startswith(b) for b in residual_blocks) and any(
                    k in name for k in _BRANCH_END_BN_KEYS)
                v = rng.uniform(0.2, 0.6, shape) if branch_end else rng.uniform(0.5, 1.5, shape)
            elif leaf == "bias":
                v = rng.normal(size=shape) * 0.1
            elif leaf == "running_mean":
                v = rng.normal(size=shape) * 0.1
            elif leaf == "running_var":
                v = rng.uniform(0.5, 2.0, shape)
            else:
                raise ValueError(f"unexpected BN tensor {name}")
        elif leaf == "gamma":  # LayerScale2d
            residual = any(name.startswith(b) for b in residual_blocks)
            v = rng.uniform(0.3, 0.9, shape) if residual else rng.uniform(0.5, 1.5, shape)
        elif leaf == "weight" and len(shape) >= 2:  # conv (O, I/g, kh, kw) or linear (O, I)
            fan_in = int(np.prod(shape[1:]))
            if "attn.output.proj" in name:  # closes the attention residual branch
                gain = 0.16
            elif any(k in name for k in _LINEAR_CONV_KEYS):
                gain = 1.0
            else:
                gain = 2.0
            v = rng.normal(size=shape) * np.sqrt(gain / fan_in)
        elif leaf == "bias":
            v = rng.normal(size=shape) * 0.1
        else:
            raise ValueError(f"no rule for tensor {name} {shape}")
        out[name] = np.asarray(v, dtype=dtype)
    return out


def reference_input(shape, seed=0):
    """Fixed float32 NHWC input, seeded by (seed, *shape).

    Per image: N(0,1) noise times a random scale in [0.5, 1.5], plus a smooth
    pattern (3 random 2-D sinusoids per channel, amplitude 1) and a per-channel
    offset N(0, 0.5), so batch elements differ clearly after global pooling.
    """
    n, h, w, c = (int(s) for s in shape)
    rng = np.random.default_rng([seed, n, h, w, c])
    x = rng.normal(size=(n, h, w, c)) * rng.uniform(0.5, 1.5, (n, 1, 1, 1))
    yy = np.arange(h)[None, :, None, None, None] / h
    xx = np.arange(w)[None, None, :, None, None] / w
    f = rng.uniform(-4, 4, (2, n, 1, 1, c, 3))  # cycles per image, 3 waves
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1, c, 3))
    x += np.sin(2 * np.pi * (f[0] * yy + f[1] * xx) + phase).sum(-1) / np.sqrt(1.5)
    x += rng.normal(size=(n, 1, 1, c)) * 0.5
    return x.astype(np.float32)


def load_fixture(variant, root=None):
    """Read ``tests/fixtures/v4/<variant>.npz`` -> dict.

    Keys: ``spec`` ({names, shapes, dtypes} lists), ``seed``, ``param_count``,
    ``timm_version``, ``input_shape_native`` / ``input_shape_small`` (NHWC,
    batch 2), ``logits_native`` / ``logits_small`` (2, 1000) pre-softmax,
    ``features``: list of dicts (one per timm feature_info tap, in order) with
    ``module``, ``stride``, ``channels``, ``kind`` and either ``full`` (1, H, W, C
    NHWC) or ``mean`` (C,) + ``corner`` (top-left 8x8 patch, 1, 8, 8, C).  The
    features are for ``reference_input(input_shape_small)[:1]``.
    """
    import os

    root = root or os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "v4")
    with np.load(os.path.join(root, f"{variant}.npz")) as z:
        d = {k: z[k] for k in z.files}
    ndim = d.pop("spec_ndim")
    shapes = [tuple(int(s) for s in row[:n]) for row, n in zip(d.pop("spec_shapes"), ndim)]
    fx = {
        "spec": {"names": [str(n) for n in d.pop("spec_names")], "shapes": shapes,
                 "dtypes": [str(t) for t in d.pop("spec_dtypes")]},
        "seed": int(d.pop("seed")),
        "param_count": int(d.pop("param_count")),
        "timm_version": str(d.pop("timm_version")),
        "model_name": str(d.pop("model_name")),
        "input_shape_native": tuple(int(s) for s in d.pop("input_shape_native")),
        "input_shape_small": tuple(int(s) for s in d.pop("input_shape_small")),
        "logits_native": d.pop("logits_native"),
        "logits_small": d.pop("logits_small"),
    }
    feats = []
    for i, (mod, stride, ch, kind) in enumerate(zip(d.pop("feature_modules"), d.pop("feature_strides"),
                                                     d.pop("feature_channels"), d.pop("feature_kinds"))):
        f = {"module": str(mod), "stride": int(stride), "channels": int(ch), "kind": str(kind)}
        if f["kind"] == "full":
            f["full"] = d.pop(f"feat{i}_full")
        else:
            f["mean"] = d.pop(f"feat{i}_mean")
            f["corner"] = d.pop(f"feat{i}_corner")
        feats.append(f)
    fx["features"] = feats
    fx.update(d)  # anything else stored (forward-compatible)
    return fx
