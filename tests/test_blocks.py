"""The public MobileNetV4 blocks compose into models that save and load."""

import keras
import numpy as np

from conftest import model_outputs, randomize
from keras_mobilenets import blocks


def test_blocks_compose_and_round_trip_through_a_keras_file(tmp_path):
    x = inputs = keras.Input((32, 32, 16))
    x = blocks.fused_inverted_bottleneck(x, 24, 3, 2, 4.0, "relu", "fused",
                                         blocks.STYLE)
    for i, (start, mid) in enumerate([(3, 5), (0, 3), (3, 0), (0, 0)]):
        x = blocks.universal_inverted_bottleneck(
            x, 24, start, mid, 1, 2.0, "relu", 1e-5, f"uib{i}", blocks.STYLE)
    x = blocks.mobile_mqa(x, 24, 2, 8, 8, 2, 3, 1e-5, "mqa", blocks.STYLE)
    x = blocks.conv_bn_act(x, 32, 1, 1, "gelu", "head", blocks.STYLE)
    model = randomize(keras.Model(inputs, x), seed=5)
    assert model.output.shape == (None, 16, 16, 32)
    assert any(isinstance(l, blocks.MultiQueryAttention) for l in model.layers)
    assert sum(isinstance(l, blocks.LayerScale) for l in model.layers) == 5
    path = str(tmp_path / "blocks.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 16)).astype("float32")
    np.testing.assert_array_equal(model_outputs(loaded, x), model_outputs(model, x))
