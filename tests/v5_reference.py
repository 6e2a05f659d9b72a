"""The MobileNetV5 parity fixtures' small networks and weights (NumPy only),
shared by fixture_scripts/make_v5_fixtures.py (timm's side) and
tests/test_mobilenet_v5.py (ours).

timm's 300M network takes minutes to build and run at 768x768 on two cores,
so the parity tests run two small networks of the same classes, written
twice: as timm's arch strings (`TIMM_STAGES`, for `MobileNetV5` /
`MobileNetV5Encoder` of timm/models/mobilenetv5.py) and as our rows
(`stages()`). Together they hold every row of the real tables: FusedIB,
UIB of the four kinds, multi-query attention with and without key/value
downsampling (and an `s2` that timm drops, as in mobilenetv5_base), and the
adapter at a size that makes it resize by a non-integer factor (nearest),
then bilinearly (`symmetric`, timm's default padding, with a classifier),
or pool (`same`, the encoder's TensorFlow padding).

Weights are regenerated from the fixture's state-dict spec and seed by
`v4_reference.reference_weights`, but for RMSNorm weights (1-D `weight`
tensors, which it has no rule for): uniform(0.5, 1.5), (0.2, 0.6) at the
end of a residual branch.
"""

import zlib

import numpy as np

from v4_reference import reference_weights as v4_weights

TIMM_STAGES = [
    ["er_r1_k3_s2_e4_c16", "er_r1_k3_s1_e4_c16"],
    ["uir_r1_a3_k5_s2_e6_c24", "uir_r1_a5_k0_s1_e4_c24",
     "uir_r1_a3_k0_s1_e4_c24"],
    ["uir_r1_a5_k5_s2_e6_c32", "uir_r1_a0_k0_s1_e1_c32",
     "mqa_r1_k3_h2_v2_s1_d8_c32", "uir_r1_a0_k0_s1_e2_c32",
     "mqa_r1_k3_h2_s2_d8_c32", "uir_r1_a0_k0_s1_e2_c32"],
    ["uir_r1_a5_k5_s2_e6_c48", "mqa_r1_k3_h4_s1_d12_c48",
     "uir_r1_a0_k0_s1_e2_c48"],
]
STEM = 16
NECK_FILTERS = {"symmetric": 64, "same": 2048}  # the encoder fixes 2048
OUTPUT_RESOLUTION = {"symmetric": 4, "same": 2}
INPUT_SHAPE = {"symmetric": (2, 80, 112, 3), "same": (2, 64, 64, 3)}
CLASSES = {"symmetric": 10, "same": 0}
SEED = 0


def stages():
    """`TIMM_STAGES` as our rows."""
    from keras_mobilenets.archs.mobilenet_v5 import fused_ib, mqa, uib

    return (
        (fused_ib(3, 2, 16, 4.0), fused_ib(3, 1, 16, 4.0)),
        (uib(3, 5, 2, 24, 6.0), uib(5, 0, 1, 24, 4.0), uib(3, 0, 1, 24, 4.0)),
        (uib(5, 5, 2, 32, 6.0), uib(0, 0, 1, 32, 1.0), mqa(2, 8, 2, 32),
         uib(0, 0, 1, 32, 2.0), mqa(2, 8, 1, 32),
         uib(0, 0, 1, 32, 2.0)),
        (uib(5, 5, 2, 48, 6.0), mqa(4, 12, 1, 48), uib(0, 0, 1, 48, 2.0)),
    )


_BRANCH_END = ("pw_proj.bn.weight", "dw_end.bn.weight", ".bn2.weight")


def reference_weights(spec, seed=SEED):
    """A timm state dict {name: array} for `spec` [(name, shape, dtype)]."""
    norms = [(n, s, d) for n, s, d in spec if n.endswith(".weight")
             and len(s) == 1]
    out = v4_weights([row for row in spec if row not in norms], seed)
    for name, shape, dtype in norms:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        low, high = (0.2, 0.6) if name.endswith(_BRANCH_END) else (0.5, 1.5)
        out[name] = rng.uniform(low, high, shape).astype(dtype)
    return out


def load_fixture(padding, root):
    """(fixture arrays, timm state dict) of `v5/<padding>.npz` in `root`."""
    import os

    with np.load(os.path.join(root, f"{padding}.npz")) as z:
        d = {k: z[k] for k in z.files}
    spec = [(str(n), tuple(int(s) for s in shape[:k]), str(t))
            for n, shape, k, t in zip(d["spec_names"], d["spec_shapes"],
                                      d["spec_ndim"], d["spec_dtypes"])]
    return d, reference_weights(spec, int(d["seed"]))
