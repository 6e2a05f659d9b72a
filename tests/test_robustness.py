"""Every model: channels_first, mixed precision, `.keras` round trips within and
across backends. Driven by `keras_mobilenets.registry.swept()`."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mobilenets as km
import robustness_reference as ref
from conftest import ROOT, V1_025_FILE, model_outputs, shared_file, swept
from keras_mobilenets import imagenet, mobilenet, registry

# Every model on one backend, one per family on the others (conftest.swept):
# channels_first under PyTorch (TensorFlow has none on CPU), the rest under
# TensorFlow, where these models build fastest.
NAMES = sorted(registry.swept())
CHANNELS_FIRST = swept(NAMES, on="torch")
SWEPT = swept(NAMES, on="tensorflow")
BACKEND = keras.backend.backend()


_build = ref.build

# Two float32 computations of one network (other kernels, other layouts,
# other backends) each differ from float64 by about the float32 error that
# fixture_scripts/make_float32_error_fixture.py measured; from each other by
# at most a few times it, on any CPU.
FLOAT32_ERRORS = 4


def _bound(name, *backends):
    return FLOAT32_ERRORS * ref.float32_error(name, backends)


def _images(size):
    """The package's cat and its mirror image."""
    cat = imagenet.load_image(imagenet.SAMPLE_IMAGE, (size, size))
    return np.stack([cat, cat[:, ::-1]])


class _Models(dict):
    """{name: (randomized float32 model, its inputs (real images), its
    outputs)}, each built on first use."""

    def __missing__(self, name):
        model = ref.randomized(name)
        x = ref.inputs(name)
        self[name] = (model, x, model_outputs(model, x))
        return self[name]


@pytest.fixture(scope="module")
def float32_models():
    return _Models()


@pytest.fixture
def data_format():
    yield keras.config.set_image_data_format
    keras.config.set_image_data_format("channels_last")


@pytest.mark.parametrize("name", CHANNELS_FIRST)
def test_channels_first_matches_channels_last(name, float32_models, data_format):
    if BACKEND == "tensorflow":
        pytest.skip("TensorFlow has no channels_first convolutions on CPU")
    model, x, expected = float32_models[name]
    data_format("channels_first")
    first = _build(name, input_shape=(3, 64, 64))
    assert first.input_shape == (None, 3, 64, 64)
    for layer in first.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    got = model_outputs(first, np.transpose(x, (0, 3, 1, 2)))
    assert np.abs(got - expected).max() <= _bound(name, BACKEND)


@pytest.fixture
def dtype_policy():
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_real_weights_agree_with_float32(policy, dtype_policy):
    path = shared_file(V1_025_FILE)
    x = mobilenet.preprocess_input(_images(224))
    expected = model_outputs(km.MobileNet(alpha=0.25, weights=path), x)
    dtype_policy(policy)
    model = km.MobileNet(alpha=0.25, weights=path)
    assert model.get_layer("conv_pw_13").compute_dtype == policy.split("_")[1]
    got = model_outputs(model, x).astype("float32")
    assert (got.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(got.max(1), expected.max(1), atol=0.05)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", SWEPT)
def test_mixed_precision_builds_runs_and_agrees(name, policy, float32_models,
                                                dtype_policy):
    model, x, expected = float32_models[name]
    dtype_policy(policy)
    mixed = _build(name)
    mixed.set_weights(model.get_weights())
    got = model_outputs(mixed, x).astype("float32")
    assert np.isfinite(got).all()
    # Random weights leave near-ties that half precision may reorder, so the
    # float32 top-1 must be in the top 5 here; exact top-1 agreement is
    # asserted with real weights above.
    top5 = np.argsort(-got, axis=1)[:, :5]
    assert all(e in t for e, t in zip(expected.argmax(1), top5))
    # bfloat16 keeps 8 bits of mantissa (float16: 11): deep random-weight
    # stacks drift further, yet far less than a broken model would.
    scale = np.abs(expected).max()
    bound = 0.25 if policy == "mixed_bfloat16" else 0.1
    assert np.abs(got - expected).max() < bound * scale


@pytest.mark.parametrize("name", SWEPT)
def test_keras_file_round_trip(name, float32_models, tmp_path):
    model, x, expected = float32_models[name]
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(model_outputs(loaded, x), expected)


LOADER = """
import json, sys
import numpy as np, keras
import keras_mobilenets  # registers the custom layers
cases = json.load(open(sys.argv[1]))
for case in cases:
    model = keras.saving.load_model(case["model"])
    x = np.load(case["input"])
    got = keras.ops.convert_to_numpy(model(x, training=False))
    np.save(case["output"], got)
print("loaded", len(cases), "models under", keras.backend.backend())
"""


# One of each kind of graph: plain Keras layers (V2), operations between
# layers (V3's hard sigmoid), the package's custom layers (V4 hybrid).
CROSS_BACKEND = ["MobileNetV2", "MobileNetV3Small", "MobileNetV4HybridMedium"]


# Each backend saves and the next one loads (TensorFlow -> JAX -> PyTorch ->
# TensorFlow): every backend writes and reads a file another one made.
BACKENDS = ("tensorflow", "jax", "torch")


@pytest.mark.parametrize("other", [BACKENDS[(BACKENDS.index(BACKEND) + 1) % 3]])
def test_keras_file_loads_under_another_backend(other, float32_models, tmp_path):
    """Saved under this backend, loaded in a process running `other`: same outputs."""
    cases = []
    for name in CROSS_BACKEND:
        model, x, expected = float32_models[name]
        case = {k: str(tmp_path / f"{name}.{k}") for k in ("model", "input", "output")}
        case["model"] += ".keras"
        case["input"] += ".npy"
        case["output"] += ".npy"
        model.save(case["model"])
        np.save(case["input"], x)
        cases.append(case)
    json.dump(cases, open(tmp_path / "cases.json", "w"))
    env = dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path / "cases.json")],
        capture_output=True, text=True, env=env, timeout=900, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"under {other}" in result.stdout
    for name, case in zip(CROSS_BACKEND, cases):
        expected = float32_models[name][2]
        difference = np.abs(np.load(case["output"]) - expected).max()
        assert difference <= _bound(name, BACKEND, other), name
