"""Models built to be loaded skip their random initializers
(`_placeholders.placeholder_weights`), and are the same models afterwards:
same config, same variables, same outputs as a model initialised normally
and then loaded from the same file."""

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
    # And it restores: a model built from the saved config is the same one.
    again = keras.Model.from_config(fast.get_config())
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
