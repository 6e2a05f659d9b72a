"""MobileNetV5: equal to timm in float64 within timm's own float32 error,
loaded through the timm conversion; its tables against timm's decoded
arch strings; the adapter's tokens; saving and loading.

Fixtures (tests/fixtures/v5/, from fixture_scripts/make_v5_fixtures.py)
hold timm 1.0.31's float64 outputs of two small networks of MobileNetV5's
classes (`v5_reference`: every row type, both paddings, both resizes of
the adapter) for weights regenerated from a seed, and timm's float32 error
there; `archs.json` holds timm's decoded block arguments of the real
networks, so the 294M-parameter tables are checked without building them.
"""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

from conftest import model_outputs
from keras_mobilenets import builder, registry
from keras_mobilenets.archs import mobilenet_v5 as v5
from keras_mobilenets.spec import MQA, MSFA, UIB, FusedIB
from v4_reference import reference_input
import v5_reference as ref

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "v5")
# Two float32 implementations may round apart by a few ulps of the outputs
# even where timm's own float32 error is smaller (as tests/test_timm_v1_v3).
RELATIVE_FLOOR = 1e-6


def small_entry(padding):
    """A registry entry (not registered) of `v5_reference`'s network."""
    base = registry.get("MobileNetV5_300M" if padding == "symmetric"
                        else "MobileNetV5_300MEncoder")
    arch = dataclasses.replace(
        base.arch, stem=dataclasses.replace(base.arch.stem, filters=ref.STEM),
        stages=ref.stages(),
        neck=MSFA(strides=(16, 32), filters=ref.NECK_FILTERS[padding],
                  output_resolution=ref.OUTPUT_RESOLUTION[padding]))
    return dataclasses.replace(base, name=f"small_{padding}", arch=arch,
                               checkpoints=(), builder=None)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{padding: (fixture, model loaded through weights=<safetensors>,
    path of the weights)}."""
    folder = tmp_path_factory.mktemp("v5")
    out = {}
    for padding in ("symmetric", "same"):
        fx, weights = ref.load_fixture(padding, FIXTURES)
        path = str(folder / f"{padding}.safetensors")
        save_file(weights, path)
        shape = tuple(int(s) for s in fx["input_shape"])
        classes = ref.CLASSES[padding]
        model = builder.build(
            small_entry(padding), weights=path, input_shape=shape[1:],
            include_top=bool(classes), classes=classes or 1000,
            classifier_activation=None, include_preprocessing=False)
        out[padding] = fx, model, path
    return out


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_equals_timm_in_float64(built, padding):
    fx, model, _ = built[padding]
    x = reference_input(tuple(fx["input_shape"]), int(fx["seed"]))
    ours = np.asarray(model_outputs(model, x), np.float64)
    want = fx["out64"]
    error = float(fx["float32_error"])
    bar = 2 * error + RELATIVE_FLOOR * float(np.abs(want).max())
    worst = float(np.abs(ours - want).max())
    print(f"{keras.backend.backend()} {padding}: max |ours - timm float64| "
          f"{worst:.3g}, timm float32 error {error:.3g}, bar {bar:.3g}")
    assert ours.shape == want.shape
    assert worst <= bar, (worst, bar)
    # The two images differ far beyond the bar: a constant output fails.
    assert np.abs(want[0] - want[1]).max() > 100 * bar
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == int(fx["param_count"])
