"""Photos and a compact summary of an image, shared by the eval-transform
fixture script (fixture_scripts/make_transform_fixtures.py, run with timm) and
tests/test_data.py (run with this package), so both see the same pixels."""

import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHELSEA = os.path.join(ROOT, "keras_mobilenets", "data", "chelsea.jpg")
ELEPHANT = os.path.join(os.path.abspath(os.environ.get(
    "KERAS_MOBILENETS_TESTS_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))),
    "images", "elephant.jpg")
SAMPLES = 4096


def photos():
    """{name: RGB PIL image}: the two photos (the elephant only where
    ../shared is present), a portrait one and a small one with odd sides
    (an upscale), all derived deterministically."""
    out = {}
    with Image.open(CHELSEA) as im:
        out["chelsea"] = im.convert("RGB")
    if os.path.isfile(ELEPHANT):
        with Image.open(ELEPHANT) as im:
            out["elephant"] = im.convert("RGB")
            out["elephant_portrait"] = out["elephant"].transpose(
                Image.Transpose.ROTATE_90)
    out["chelsea_small"] = out["chelsea"].resize((151, 97), Image.NEAREST)
    return out


def summary(pixels, samples=SAMPLES):
    """Row means, column means (per channel) and `samples` pixels at
    positions fixed by the shape, of an (rows, cols, 3) array."""
    pixels = np.asarray(pixels, dtype="float64")
    rows, cols, _ = pixels.shape
    rng = np.random.default_rng(rows * 100_003 + cols)
    at = rng.integers(0, rows * cols, samples)
    return {"rows": pixels.mean(axis=1), "cols": pixels.mean(axis=0),
            "sample": pixels.reshape(-1, 3)[at]}
