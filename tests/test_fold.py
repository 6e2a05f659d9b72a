"""fold_batch_norm: same function as the model, no BatchNorm after a conv."""

import keras
import numpy as np
import pytest

import keras_mobilenets as km
from keras_mobilenets.fold import foldable_pairs
from keras_mobilenets import registry

MODELS = registry.swept()  # MobileNetV5 aside: too large to sweep

from conftest import ELEPHANT, V1_025_FILE, model_outputs, randomize, shared_file

SIZES = {"MobileNetV4HybridMedium": 64, "MobileNetV4HybridLarge": 64}


def _batch_norms(model):
    return [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]


# Every model under TensorFlow; one per generation (the hybrid for V4) under
# JAX and PyTorch, whose faster kernels the folded convolutions also run.
FOLDED = list(MODELS) if keras.backend.backend() == "tensorflow" else [
    "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV4HybridMedium"]


@pytest.mark.parametrize("name", FOLDED)
def test_folded_model_computes_the_same(name):
    size = SIZES.get(name, 48)
    model = MODELS[name].builder(
        **MODELS[name].test_config, weights=None, input_shape=(size, size, 3),
        classifier_activation=None)
    randomize(model, seed=4)
    x = np.random.default_rng(5).uniform(0, 255, (2, size, size, 3)).astype("float32")
    before = model_outputs(model, x)
    pairs = foldable_pairs(model)
    folded = km.fold_batch_norm(model)

    got = model_outputs(folded, x)
    scale = np.abs(before).max()
    assert scale > 1e-3
    # Folding rounds each kernel once more in float32; through attention's
    # softmax (hybrids) that reaches ~3e-5 of the logits' scale.
    np.testing.assert_allclose(got, before, atol=1e-4 * max(scale, 1.0), rtol=0)
    # Every BatchNorm after a convolution is gone; only the hybrids' pre-norms
    # of attention (after an addition) stay.
    assert len(pairs) > 0
    assert foldable_pairs(folded) == {}
    assert len(_batch_norms(folded)) == len(_batch_norms(model)) - len(pairs)
    if not name.startswith("MobileNetV4Hybrid"):
        assert _batch_norms(folded) == []
    # The original is untouched and shares nothing with the copy.
    np.testing.assert_array_equal(model_outputs(model, x), before)
    ours = {id(v) for v in model.weights}
    assert not any(id(v) in ours for v in folded.weights)
    # The copy keeps the facts; a tap on a folded BatchNorm moves to its
    # convolution, whose output is the same map.
    assert type(folded) is km.Model
    assert folded.data_config == model.data_config
    # None only for a model without checkpoints (no eval recipe).
    assert (model.data_config is None) == (not MODELS[name].checkpoints)
    assert folded.class_names == model.class_names
    assert folded.taps == {s: pairs[n].name if n in pairs else n
                           for s, n in model.taps.items()}
    got = model_outputs(km.feature_model(folded), x)
    want = model_outputs(km.feature_model(model), x)
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=0, err_msg=k,
                                   atol=1e-4 * max(np.abs(want[k]).max(), 1.0))


def test_dilated_convolutions_fold_too():
    """At output stride 8 the dilated depthwise convolutions fold as any."""
    model = km.MobileNetV3Small(weights=None, input_shape=(64, 64, 3),
                                output_stride=8, classifier_activation=None)
    randomize(model, seed=4)
    x = np.random.default_rng(5).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    pairs = foldable_pairs(model)
    assert sum(max(conv.dilation_rate) > 1 for conv in pairs.values()) > 3
    folded = km.fold_batch_norm(model)
    assert _batch_norms(folded) == []
    want = model_outputs(model, x)
    np.testing.assert_allclose(model_outputs(folded, x), want, rtol=0,
                               atol=1e-4 * max(np.abs(want).max(), 1.0))


def test_folded_real_weights_classify_the_same(tmp_path):
    model = km.MobileNet(alpha=0.25, weights=shared_file(V1_025_FILE))
    image = km.imagenet.load_image(ELEPHANT, (224, 224))
    x = km.mobilenet.preprocess_input(image[None])
    folded = km.fold_batch_norm(model)
    want, got = model_outputs(model, x), model_outputs(folded, x)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert int(np.argmax(got)) == 386  # African elephant
    path = tmp_path / "folded.keras"
    folded.save(path)
    np.testing.assert_allclose(
        model_outputs(keras.models.load_model(path), x), got, atol=1e-6)


def test_refuses_what_it_cannot_fold():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="functional keras.Model.*Received"):
        km.fold_batch_norm(Subclassed())
    with pytest.raises(TypeError, match="Received: model='model.h5'"):
        km.fold_batch_norm("model.h5")
