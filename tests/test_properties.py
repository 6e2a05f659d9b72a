"""Property: every public builder, for any arguments, either builds a model that
runs a forward pass or raises ValueError/TypeError naming the argument and the
value received. Driven by `keras_mobilenets.registry.swept()`.

Examples per builder: HYPOTHESIS_PROFILE=ci (default, for the three-backend
suite) or =thorough.
"""

import inspect
import math
import os

import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest

from conftest import model_outputs, swept
from keras_mobilenets import registry
from keras_mobilenets import weights as weights_lib

hypothesis.settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck))
hypothesis.settings.register_profile(
    "thorough", max_examples=150, deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck))
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BAD = st.sampled_from(["x", -1, 0, 2.5, None, True, float("nan"), [3]])
# Valid values come from a few sizes and widths, so that most builds reuse
# shapes the backend has compiled already.
ARGS = {
    "alpha": st.sampled_from([0.25, 0.5, 0.75, 1.0, 0.35]) | st.sampled_from(
        [0, -0.5, float("nan"), float("inf"), "1.0", None, True]),
    "input_shape": st.none() | st.tuples(
        st.sampled_from([None, 32, 33, 48, 1, 31]),
        st.sampled_from([None, 32, 40, 0]),
        st.sampled_from([3, 3, 1, 4, 0])) | st.sampled_from(
        [(64, 64), (64, 64, 3, 1), "64x64", (64.0, 64, 3), (-1, 64, 3)]),
    "include_top": st.booleans() | st.sampled_from([1, "yes", None]),
    "pooling": st.sampled_from([None, "avg", "max", "mean", "", 1]),
    "classes": st.sampled_from([1, 10, 1000]) | st.sampled_from([0, -3, 2.5, "10", True]),
    "weights": st.sampled_from([None, None, None, "imagenet", "nope", "hf-hub:a/b",
                                "/no/such/file.h5", 3, "model.pth"]),
    "classifier_activation": st.sampled_from(
        ["softmax", None, "relu", "linear", "no_such_activation", 3]),
    "dropout": st.sampled_from([0.0, 0.2, 0.999]) | st.sampled_from([1.0, -0.1, "0.2"]),
    "dropout_rate": st.sampled_from([0.0, 0.2]) | st.sampled_from([1.0, -0.1, "0.2"]),
    "depth_multiplier": st.sampled_from([1, 2]) | st.sampled_from([0, 1.5, "2"]),
    "minimalistic": st.booleans() | st.sampled_from([0, "no"]),
    "reduced_tail": st.booleans() | st.sampled_from([0, "no"]),
    "include_preprocessing": st.booleans() | st.sampled_from([None, "yes"]),
    "include_pre_logits": st.booleans() | st.sampled_from([1, None]),
}
tried = {"built": 0, "rejected": 0, "reached download": 0}


class _Offline(Exception):
    pass


def _mentions(message, name, value):
    shown = {repr(value), str(value)}
    if isinstance(value, float) and math.isnan(value):
        shown.add("nan")
    return name in message and any(s in message for s in shown)


def _check(builder, kwargs):
    try:
        model = builder(**kwargs)
    except _Offline:
        tried["reached download"] += 1
        return
    except (ValueError, TypeError) as e:
        tried["rejected"] += 1
        message = str(e)
        assert any(_mentions(message, k, v) for k, v in kwargs.items()), (
            kwargs, message)
        return
    tried["built"] += 1
    shape = [d or 33 for d in model.input_shape[1:]]
    x = np.random.default_rng(0).uniform(0, 255, [1] + shape).astype("float32")
    y = model_outputs(model, x)
    assert np.isfinite(y).all()
    if kwargs.get("include_top", True):
        assert y.shape == (1, kwargs.get("classes", 1000))
    elif kwargs.get("pooling") or kwargs.get("include_pre_logits"):
        assert y.ndim == 2


# Every model under TensorFlow (where they build fastest), one per family
# elsewhere (conftest.swept).
@pytest.mark.parametrize("name", swept(sorted(registry.swept()), on="tensorflow"))
def test_any_arguments_build_or_raise_clearly(name, monkeypatch, keras_home):
    builder = registry.ENTRIES[name].builder
    accepted = set(inspect.signature(builder).parameters)

    def offline(entry, subdir="models"):
        raise _Offline(entry.fname)

    def hub_offline(repo_id, filename, revision=None):
        raise _Offline(f"{repo_id}/{filename}")

    monkeypatch.setattr(weights_lib.cache, "fetch", offline)
    monkeypatch.setattr(weights_lib.hub, "download", hub_offline)
    (keras_home / "model.pth").write_bytes(b"not opened")
    monkeypatch.chdir(keras_home)
    # `weights` is always given (mostly None): its default would download.
    strategy = st.fixed_dictionaries(
        {"weights": ARGS["weights"]},
        optional={k: v for k, v in ARGS.items()
                  if k in accepted and k != "weights"})
    tried.update(dict.fromkeys(tried, 0))

    @hypothesis.given(strategy)
    def run(kwargs):
        _check(builder, kwargs)

    run()
    print(f"{name}: {tried}")
    assert tried["built"] > 0 and tried["rejected"] > 0
