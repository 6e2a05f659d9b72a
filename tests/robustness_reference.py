"""The models and inputs of tests/test_robustness.py, shared with the script
that measures their float32 error against float64
(fixture_scripts/make_float32_error_fixture.py), so both see the same
numbers."""

import json
import os

import numpy as np

from conftest import randomize
from keras_mobilenets import imagenet, registry

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", "float32_error.json")
SIZE = 64
SEED = 7


def build(name, **kw):
    """`name` at 64x64 with its test settings, logits, initial weights."""
    entry = registry.ENTRIES[name]
    kw = {**entry.test_config, "weights": None, "include_top": True,
          "classifier_activation": None, "input_shape": (SIZE, SIZE, 3), **kw}
    return entry.builder(**kw)


def randomized(name):
    return randomize(build(name), seed=SEED)


def inputs(name):
    """The package's cat and its mirror image, as `name`'s inputs."""
    cat = imagenet.load_image(imagenet.SAMPLE_IMAGE, (SIZE, SIZE))
    return registry.ENTRIES[name].preprocess(np.stack([cat, cat[:, ::-1]]))


def float32_error(name, backends):
    """The largest max |float32 - float64| of `name`'s logits on these
    inputs over `backends`, as the fixture script measured it."""
    with open(FIXTURE) as f:
        measured = json.load(f)
    return max(measured[backend][name] for backend in backends)
