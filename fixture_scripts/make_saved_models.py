"""Writes the `.keras` files of tests/fixtures/saved: small models saved by
the release before the registry redesign (commit 68fc7b9), with an input and
the outputs that release computed, so later releases are tested to load them
and give the same outputs (tests/test_saved_models.py).

    KERAS_BACKEND=tensorflow python fixture_scripts/make_saved_models.py

Run once, from a checkout of that release; the files are committed.
"""

import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

import keras_mobilenets as km  # noqa: E402
from conftest import model_outputs, randomize  # noqa: E402

OUT = os.path.join(ROOT, "tests", "fixtures", "saved")
MODELS = {
    "mobilenet_v1": (km.MobileNet, dict(alpha=0.25)),
    "mobilenet_v2": (km.MobileNetV2, dict(alpha=0.35)),
    "mobilenet_v3_small": (km.MobileNetV3Small, dict(alpha=0.75)),
    "mobilenet_v4_conv_small": (km.MobileNetV4ConvSmall, dict(alpha=0.5)),
    "mobilenet_v4_hybrid_medium": (km.MobileNetV4HybridMedium, dict(alpha=0.25)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (name, (builder, kwargs)) in enumerate(MODELS.items()):
        model = builder(weights=None, input_shape=(64, 64, 3), classes=10,
                        classifier_activation=None, **kwargs)
        randomize(model, seed=i)
        x = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
        if name in ("mobilenet_v1", "mobilenet_v2"):
            x = x / 127.5 - 1.0
        model.save(os.path.join(OUT, f"{name}.keras"))
        np.savez(os.path.join(OUT, f"{name}.npz"), x=x,
                 y=model_outputs(model, x))
        print(name, model.count_params())


if __name__ == "__main__":
    main()
