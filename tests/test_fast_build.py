"""Models built to be loaded skip their random initializers
(`_placeholders.placeholder_weights`), and are the same models afterwards:
same config, same variables, same outputs as a model initialised normally
and then loaded from the same file; and the package imports nothing that
such a first prediction does not use."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mobilenets
from keras_mobilenets import weights as weights_lib
from keras_mobilenets._placeholders import placeholder_weights
from keras_mobilenets.errors import WeightsError

from conftest import V1_025_FILE, V2_035_NO_TOP_FILE, shared_file

CASES = {
    "v1_top": (keras_mobilenets.MobileNet, V1_025_FILE,
               dict(alpha=0.25, include_top=True, input_shape=(224, 224, 3))),
    "v2_no_top": (keras_mobilenets.MobileNetV2, V2_035_NO_TOP_FILE,
                  dict(alpha=0.35, include_top=False, input_shape=(96, 96, 3))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_loaded_model_equals_initialised_then_loaded(case):
    builder, fname, kwargs = CASES[case]
    path = shared_file(fname)
    keras.utils.clear_session()  # the same auto-generated names in both
    fast = builder(weights=path, **kwargs)
    keras.utils.clear_session()
    plain = builder(weights=None, **kwargs)
    weights_lib.load(plain, path, kwargs["include_top"])
    # The config records the layers' own initializers, not the placeholders.
    assert fast.get_config() == plain.get_config()
    conv = fast.layers[1]  # the stem's convolution
    assert isinstance(conv, keras.layers.Conv2D)
    assert conv.get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert len(fast.weights) == len(plain.weights)
    for a, b in zip(fast.weights, plain.weights):
        assert a.path == b.path
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                      keras.ops.convert_to_numpy(b))
    x = np.random.default_rng(0).uniform(
        0, 255, (2,) + kwargs["input_shape"]).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(fast.predict(x, verbose=0)),
        keras.ops.convert_to_numpy(plain.predict(x, verbose=0)))
    # And it restores: a model built from the saved config is the same one
    # (its class's `from_config`, which reads its facts: keras_mobilenets.Model).
    again = type(fast).from_config(fast.get_config())
    assert again.get_config() == fast.get_config()


def test_placeholders_are_zeros_and_the_initializers_stay():
    original = keras.layers.Layer.add_weight
    with placeholder_weights():
        assert keras.layers.Layer.add_weight is not original
        dense = keras.layers.Dense(3, bias_initializer="ones")
        dense.build((None, 4))
        with placeholder_weights():  # nested: still placeholders
            conv = keras.layers.Conv2D(2, 3)
            conv.build((None, 8, 8, 1))
    assert keras.layers.Layer.add_weight is original
    for variable in dense.weights + conv.weights:
        assert not np.any(keras.ops.convert_to_numpy(variable))
    assert dense.get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert dense.get_config()["bias_initializer"]["class_name"] == "Ones"
    after = keras.layers.Dense(3, bias_initializer="ones")
    after.build((None, 4))  # outside the context: Keras' initializers again
    assert np.any(keras.ops.convert_to_numpy(after.kernel))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(after.bias), 1.0)


def test_failed_load_leaves_keras_as_it_was():
    original = keras.layers.Layer.add_weight
    with pytest.raises(WeightsError):
        # A V2 file into a V1 model: refused by the strict loader.
        keras_mobilenets.MobileNet(
            alpha=0.25, include_top=False, input_shape=(96, 96, 3),
            weights=shared_file(V2_035_NO_TOP_FILE))
    assert keras.layers.Layer.add_weight is original
    # Models built without weights are initialised as Keras does.
    model = keras_mobilenets.MobileNet(alpha=0.25, include_top=False,
                                       input_shape=(96, 96, 3), weights=None)
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv1").kernel)
    assert np.any(kernel) and np.std(kernel) > 0


FIRST_PREDICTION = """
import sys
import keras
import numpy as np
def packages():
    return {name.split(".")[0] for name in list(sys.modules)}
after_keras = packages()
import keras_mobilenets
model = keras_mobilenets.MobileNetV2(
    alpha=0.35, include_top=False, input_shape=(96, 96, 3), weights=sys.argv[1])
model.predict(np.zeros((1, 96, 96, 3), "float32"), verbose=0)
print(" ".join(sorted(packages() - after_keras)))
"""
# Modules a first prediction from a local file has no use for: the hub
# client, safetensors (V4 checkpoints), data sets, other backends' frameworks.
UNUSED = {"huggingface_hub", "httpx", "httpx2", "requests", "safetensors",
          "tensorflow_datasets", "scipy", "tensorflow", "torch", "jax"}


def test_first_prediction_imports_only_what_it_uses():
    path = shared_file(V2_035_NO_TOP_FILE)
    done = subprocess.run([sys.executable, "-c", FIRST_PREDICTION, path],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    # Keras imports its backend's framework (and JAX) itself, beforehand.
    added = set(done.stdout.split())
    assert "keras_mobilenets" in added
    assert not added & UNUSED, sorted(added & UNUSED)
