"""A model owns its facts: `keras_mobilenets.Model` carries its feature taps,
class names and checkpoint's data config in its config, through Keras' own
serialization check, a `.keras` file (also read in a fresh process),
`clone_model`; `pyramid_outputs` follows keras-hub's convention; the
features never rebuild one of our models to understand it."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

# Keras' own check of a class's config and serialization round trips (the
# issue's bar); Keras exports its test case class only under `keras.src`.
from keras.src.testing import TestCase

import keras_mobilenets as km
from conftest import ROOT, V1_025_FILE, model_outputs
from keras_mobilenets import builder, features, legacy_features, registry
from keras_mobilenets.weights.sources import TimmCheckpoint

GENERATIONS = ["MobileNet", "MobileNetV2", "MobileNetV3Small",
               "MobileNetV4HybridMedium"]
CLASSES = (("n0", "zero"), ("n1", "one"), ("n2", "two"))


def _tiny(name, size=32, **kwargs):
    entry = registry.get(name)
    return entry.builder(weights=None, input_shape=(size, size, 3),
                         **dict(entry.test_config, **kwargs))


def _facts(model):
    return model.taps, model.class_names, model.data_config


def _with_class_names(model):
    """`model` as a `km.Model` that also names its 3 classes."""
    return km.Model(model.input, model.output, name=model.name,
                    taps=model.taps, class_names=CLASSES,
                    data_config=model.data_config)


class _Keras(TestCase):
    def runTest(self):
        pass


@pytest.mark.parametrize("name", GENERATIONS)
def test_keras_serialization_check(name):
    model = _tiny(name, classes=3, classifier_activation=None)
    assert model.taps and model.data_config
    revived = _Keras().run_class_serialization_test(_with_class_names(model))
    assert type(revived) is km.Model
    assert _facts(revived) == (model.taps, CLASSES, model.data_config)


def test_keras_file_and_clone_keep_the_facts(tmp_path):
    model = _with_class_names(_tiny("MobileNetV3Small", 64, classes=3))
    taps, _, config = _facts(model)
    assert sorted(taps) == [2, 4, 8, 16, 32]
    # weights=None: the recipe of the checkpoint it normalises with.
    assert config == km.data_config(km.MobileNetV3Small, "imagenet")
    assert config["weights"] == "imagenet"
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    clone = keras.models.clone_model(model)
    for copy in (loaded, clone):
        assert type(copy) is km.Model
        assert _facts(copy) == (taps, CLASSES, config)
        assert km.labels.class_names(copy) == CLASSES
    # The facts are part of the config, not loose attributes.
    saved = model.get_config()
    assert saved["taps"] == [[s, taps[s]] for s in sorted(taps)]
    assert saved["class_names"] == [list(c) for c in CLASSES]
    # Handed on only to a copy that holds the tapped layers.
    nested = km.Model(model.input, model(model.input))
    assert _facts(nested) == (None, None, None)


def test_a_fresh_process_reads_the_facts(tmp_path):
    model = _with_class_names(_tiny("MobileNetV4HybridMedium", 64))
    path = str(tmp_path / "m.keras")
    model.save(path)
    script = (
        "import json, sys, keras, keras_mobilenets as km\n"
        "m = keras.saving.load_model(sys.argv[1])\n"
        "print(json.dumps([type(m).__name__, sorted(m.taps.items()), "
        "m.class_names, km.data_config(m), sorted(km.feature_model(m).output)"
        "]))\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", script, path], env=env,
                         capture_output=True, text=True, check=True, cwd=ROOT)
    kind, taps, names, config, keys = json.loads(out.stdout.splitlines()[-1])
    assert kind == "Model"
    assert {int(s): n for s, n in taps} == model.taps
    assert tuple(map(tuple, names)) == CLASSES
    want = model.data_config
    assert config == {k: list(v) if isinstance(v, tuple) else v
                      for k, v in want.items()}
    assert keys == sorted(features.key(s) for s in model.taps)


@pytest.mark.parametrize("name", GENERATIONS)
def test_pyramid_outputs(name):
    model = _tiny(name, 64, include_top=False, output_stride=16)
    pyramid = model.pyramid_outputs
    assert list(pyramid) == ["P1", "P2", "P3", "P4"]  # up to output stride 16
    for level, tensor in pyramid.items():
        stride = 2 ** int(level[1:])
        assert tensor is model.get_layer(model.taps[stride]).output
        assert tensor.shape[1:3] == (64 // stride, 64 // stride)
    encoder = keras.Model(model.inputs, model.pyramid_outputs)
    maps = model_outputs(encoder, [np.zeros((1, 64, 64, 3), "float32")])
    assert {k: v.shape[1:3] for k, v in maps.items()} == {
        f"P{p}": (64 >> p, 64 >> p) for p in (1, 2, 3, 4)}


def test_feature_model_never_rebuilds_our_models(tmp_path, monkeypatch):
    model = _tiny("MobileNetV2", 64, include_top=False)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(legacy_features, "_REFERENCE", {})
    monkeypatch.setattr(builder, "build", refuse)
    monkeypatch.setattr(keras.layers.Conv2D, "__init__", refuse)
    for m in (model, loaded):
        feats = km.feature_model(m)
        assert sorted(feats.output) == sorted(features.key(s) for s in
                                              model.taps)
    # Only a model without taps is recognised by building a reference.
    with pytest.raises(AssertionError, match="a model was built"):
        km.feature_model(keras.Model(loaded.inputs, loaded.outputs))


def test_data_config_of_a_v1_model_is_its_builders(cache_with):
    cache_with(V1_025_FILE)
    model = km.MobileNet(alpha=0.25, weights="imagenet")
    assert km.data_config(model) == km.data_config(km.MobileNet, "imagenet")
    assert km.eval_transform(model).config == km.data_config(model)


def test_data_config_of_a_v4_model_is_its_builders(monkeypatch):
    loaded = []
    monkeypatch.setattr(TimmCheckpoint, "load",
                        lambda self, *args, **kwargs: loaded.append(self.tag))
    entry = registry.get("MobileNetV4ConvSmall")
    tag = next(c.tag for c in entry.checkpoints
               if c.alpha == 1.0 and c.test_input_size)
    model = entry.builder(weights=tag, include_top=False)
    assert loaded == [tag]
    for test_size in (False, True):
        config = km.data_config(model, use_test_size=test_size)
        assert config == km.data_config(entry.builder, tag,
                                        use_test_size=test_size)
        assert km.eval_transform(model, use_test_size=test_size).config \
            == config
    assert config["weights"] == tag
    assert config["input_size"] == config["test_input_size"] != \
        km.data_config(model)["input_size"]


def test_a_model_without_a_data_config_is_a_clear_error():
    model = _tiny("MobileNetV2", include_top=False)
    bare = keras.Model(model.inputs, model.outputs, name="bare")
    with pytest.raises(ValueError, match="carries no data configuration.*"
                       "Received: model='bare'"):
        km.data_config(bare)
    with pytest.raises(ValueError, match="carries no data configuration"):
        km.eval_transform(bare)
    with pytest.raises(ValueError, match="weights` is for builders.*"
                       "weights='x'"):
        km.data_config(model, "x")
