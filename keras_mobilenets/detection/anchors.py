"""SSD default boxes (anchors) in NumPy: the boxes of every feature-map cell,
in torchvision's order and arithmetic (its `DefaultBoxGenerator`)."""

import math
import numbers

import numpy as np

from .. import arguments


def _pair(name, value):
    """(rows, cols) of positive ints, from a pair or a sequence of two."""
    try:
        pair = tuple(value)
    except TypeError:
        pair = None
    if pair is None or len(pair) != 2 or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool)
            for v in pair):
        raise TypeError(f"`{name}` must be a pair of ints (rows, cols). "
                        f"Received: {name}={value!r}")
    if min(pair) < 1:
        raise ValueError(f"`{name}` must be positive. "
                         f"Received: {name}={value!r}")
    return tuple(int(v) for v in pair)


def anchors_per_location(aspect_ratios):
    """How many default boxes each cell of each feature map has: two squares
    (scales s_k and sqrt(s_k s_k+1)) and two boxes per aspect ratio."""
    return [2 + 2 * len(ratios) for ratios in aspect_ratios]


def ssdlite_feature_sizes(image_size, num_maps=6):
    """The feature-map sizes of SSDLite for an image: strides 16 and 32,
    then each extra block halves (3x3 stride-2 convolutions padded by 1
    round up: 20, 10, 5, 3, 2, 1 at 320)."""
    rows, cols = _pair("image_size", image_size)
    num_maps = arguments.integer(2)("num_maps", num_maps)
    sizes = [(-(-rows // 16), -(-cols // 16))]
    for _ in range(num_maps - 1):
        rows, cols = sizes[-1]
        sizes.append((-(-rows // 2), -(-cols // 2)))
    return sizes


def default_boxes(image_size, feature_sizes, aspect_ratios=None,
                  min_ratio=0.2, max_ratio=0.95, clip=True):
    """Default boxes of SSD, `(A, 4)` float32 `xyxy` in input pixels.

    Args:
        image_size: `(rows, cols)` of the model's input.
        feature_sizes: `(rows, cols)` of each feature map the heads read.
        aspect_ratios: per feature map, the aspect ratios beyond 1 (each
            adds a wide and a tall box). Defaults to `(2, 3)` on every map,
            as torchvision's SSDLite.
        min_ratio, max_ratio: the scales of the first and last maps, as
            fractions of the image; the others are spaced evenly between.
        clip: clip each box's relative width and height to at most 1.

    Order: feature map by feature map, then row, column, and each box of a
    cell (the model's heads must flatten in the same order). Computed in
    float32 as torchvision does, so the boxes agree to its rounding.
    """
    rows, cols = _pair("image_size", image_size)
    if isinstance(feature_sizes, (str, bytes)) or not hasattr(
            feature_sizes, "__len__") or len(feature_sizes) == 0:
        raise TypeError("`feature_sizes` must be a non-empty list of "
                        f"(rows, cols). Received: feature_sizes={feature_sizes!r}")
    sizes = [_pair("feature_sizes", f) for f in feature_sizes]
    if aspect_ratios is None:
        aspect_ratios = [(2, 3)] * len(sizes)
    if len(aspect_ratios) != len(sizes):
        raise ValueError(
            "`aspect_ratios` needs one list per feature map "
            f"({len(sizes)}). Received: aspect_ratios={aspect_ratios!r}")
    for ratios in aspect_ratios:
        for r in ratios:
            arguments.number()("aspect_ratios", r)
    min_ratio = arguments.number()("min_ratio", min_ratio)
    max_ratio = arguments.number()("max_ratio", max_ratio)
    if min_ratio > max_ratio:
        raise ValueError("`min_ratio` must be at most `max_ratio`. Received: "
                         f"min_ratio={min_ratio}, max_ratio={max_ratio}")
    clip = arguments.boolean("clip", clip)

    # Scales as in the SSD paper (eq. 4), with 1.0 after the last for its
    # s'_k; one map alone gets (min_ratio, max_ratio).
    n = len(sizes)
    if n > 1:
        scales = [min_ratio + (max_ratio - min_ratio) * k / (n - 1.0)
                  for k in range(n)] + [1.0]
    else:
        scales = [min_ratio, max_ratio]
    image_xy = np.array([cols, rows], np.float32)
    boxes = []
    for k, ((f_rows, f_cols), ratios) in enumerate(zip(sizes, aspect_ratios)):
        between = math.sqrt(scales[k] * scales[k + 1])
        wh = [(scales[k], scales[k]), (between, between)]
        for r in ratios:
            wh += [(scales[k] * math.sqrt(r), scales[k] / math.sqrt(r)),
                   (scales[k] / math.sqrt(r), scales[k] * math.sqrt(r))]
        wh = np.array(wh, np.float32)  # from float64, as torchvision's
        if clip:
            wh = np.clip(wh, 0.0, 1.0)
        # cell centres (i + 0.5) / size, in float32
        half_cell = np.float32(0.5)
        cx = (np.arange(f_cols, dtype=np.float32) + half_cell) / np.float32(f_cols)
        cy = (np.arange(f_rows, dtype=np.float32) + half_cell) / np.float32(f_rows)
        cy, cx = np.meshgrid(cy, cx, indexing="ij")
        centres = np.stack([cx.ravel(), cy.ravel()], -1)
        centres = np.repeat(centres, len(wh), axis=0)
        sizes_k = np.tile(wh, (f_rows * f_cols, 1))
        half = np.float32(0.5) * sizes_k
        boxes.append(np.concatenate([(centres - half) * image_xy,
                                     (centres + half) * image_xy], -1))
    return np.concatenate(boxes).astype(np.float32)
