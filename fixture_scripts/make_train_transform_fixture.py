"""Writes tests/fixtures/train_transform.npz: timm's training crop
(`RandomResizedCropAndInterpolation`) on a small random uint8 image for a
few fixed boxes, with bilinear and bicubic resizing (its `__call__` after
`get_params`: torchvision's `resized_crop` on PIL), the boxes its
`get_params` falls back to for images too wide or too tall for any try,
and its default scale and ratio; for tests/test_train_transform.py.

    ../timm-venv/bin/python fixture_scripts/make_train_transform_fixture.py
"""

import inspect
import os

import numpy as np
import torchvision.transforms.functional as F
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation, str_to_interp_mode

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "train_transform.npz")
SIZE = (16, 20)  # rows, cols
BOXES = [(0, 0, 29, 41), (3, 5, 20, 11), (10, 2, 7, 30), (1, 9, 28, 4)]
FALLBACK_SHAPES = [(10, 200), (200, 10)]  # rows, cols: no try fits


def main():
    image = np.random.RandomState(0).randint(0, 256, (29, 41, 3), dtype="uint8")
    pil = Image.fromarray(image)
    out = {"image": image, "boxes": np.array(BOXES), "size": np.array(SIZE)}
    for interpolation in ("bilinear", "bicubic"):
        mode = str_to_interp_mode(interpolation)
        out[interpolation] = np.stack([
            np.asarray(F.resized_crop(pil, *box, list(SIZE), mode))
            for box in BOXES])
    defaults = inspect.signature(RandomResizedCropAndInterpolation).parameters
    scale, ratio = defaults["scale"].default, defaults["ratio"].default
    out["scale"], out["ratio"] = np.array(scale), np.array(ratio)
    # No try fits (the smallest area at the widest ratio is taller than 10
    # rows): get_params takes its deterministic central fallback.
    fallbacks = []
    for rows, cols in FALLBACK_SHAPES:
        blank = Image.new("RGB", (cols, rows))
        fallbacks.append(RandomResizedCropAndInterpolation.get_params(
            blank, scale, ratio))
    out["fallback_shapes"] = np.array(FALLBACK_SHAPES)
    out["fallback_boxes"] = np.array(fallbacks)
    np.savez_compressed(OUT, **out)
    print({k: v.shape for k, v in out.items()}, fallbacks)


if __name__ == "__main__":
    main()
