"""The parity check of timm's V1-V3 networks against their fixtures
(tests/fixtures/timm_v1_v3, from fixture_scripts/make_timm_v1_v3_fixtures.py),
shared by tests/test_timm_v1_v3.py and the maintainer's table
(fixture_scripts/timm_v1_v3_parity_table.py)."""

import dataclasses
import os

import keras
import numpy as np
from safetensors.numpy import save_file

from conftest import model_outputs
from keras_mobilenets import registry
from v4_reference import reference_input, reference_weights

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "timm_v1_v3")
ARCHS = sorted(f[:-len(".npz")] for f in os.listdir(FIXTURES)
               if f.endswith(".npz"))
# Two float32 implementations may round apart by a few ulps of the logits
# even where timm's own float32 error is smaller.
RELATIVE_FLOOR = 1e-6


def load_fixture(arch):
    """(fixture arrays, timm state dict): the weights regenerated from the
    fixture's spec and seed, with its BatchNorm statistics."""
    with np.load(os.path.join(FIXTURES, f"{arch}.npz")) as z:
        d = {k: z[k] for k in z.files}
    spec = [(str(n), tuple(int(s) for s in shape[:k]), str(t)) for n, shape, k, t
            in zip(d["spec_names"], d["spec_shapes"], d["spec_ndim"],
                   d["spec_dtypes"])]
    weights = reference_weights(spec, int(d["seed"]))
    for key, value in d.items():
        if key.startswith("stats:"):
            name = key[len("stats:"):]
            assert weights[name].shape == value.shape, name
            weights[name] = value
    return d, weights


@dataclasses.dataclass
class Parity:
    """Our float32 model against timm's float64 logits for one fixture."""

    arch: str
    worst: float  # max |ours - timm float64| over the logits
    float32_error: float  # timm's own max |float32 - float64|
    bar: float  # 2 x float32_error + RELATIVE_FLOOR x the largest logit
    trainable: int
    timm_trainable: int
    spread: float  # max |logits of image 0 - of image 1| (timm's float64)

    @property
    def passed(self):
        return (self.worst <= self.bar and self.trainable == self.timm_trainable
                and self.spread > 100 * self.bar)


def parity(arch, folder):
    """Builds our model of timm's `arch` (registry entry and alpha) with the
    fixture's weights, written as safetensors into `folder`, at the
    fixture's input, without preprocessing, and compares its logits."""
    fx, weights = load_fixture(arch)
    path = os.path.join(folder, f"{arch}.safetensors")
    save_file(weights, path)
    entry, alpha = registry.timm_names()[arch]
    shape = tuple(int(s) for s in fx["input_shape"])
    model = entry.builder(alpha=alpha, weights=path, input_shape=shape[1:],
                          classifier_activation=None,
                          include_preprocessing=False)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    x = reference_input(shape, int(fx["seed"]))
    ours = np.asarray(model_outputs(model, x), np.float64)
    want = fx["logits64"]
    error = float(fx["float32_error"])
    keras.backend.clear_session()
    return Parity(arch, worst=float(np.abs(ours - want).max()),
                  float32_error=error,
                  bar=2 * error + RELATIVE_FLOOR * float(np.abs(want).max()),
                  trainable=trainable,
                  timm_trainable=int(fx["param_count"]),
                  spread=float(np.abs(want[0] - want[1]).max()))
