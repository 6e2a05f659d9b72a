"""An SSD model on image files: each image resized to the model's input (as
torchvision's SSDLite, without keeping its aspect ratio), predicted,
post-processed, and its boxes scaled back to the image's own pixels."""

import keras
import numpy as np
from PIL import Image

from .. import arguments
from .data import _image_size, anchors_for
from .postprocess import postprocess


def load_image(path, image_size):
    """(the image at `path` as RGB resized to `image_size` (rows, cols),
    float32 in [0, 255], bilinear without antialiasing as
    `keras.layers.Resizing` and torchvision's transform; its own (rows,
    cols))."""
    with Image.open(path) as f:
        image = np.asarray(f.convert("RGB"), np.float32)
    resized = keras.ops.image.resize(image, image_size,
                                     interpolation="bilinear",
                                     antialias=False, data_format="channels_last")
    return keras.ops.convert_to_numpy(resized), image.shape[:2]


def scale_boxes(boxes, from_size, to_size):
    """`xyxy` boxes in an image of `from_size` (rows, cols) -> the same
    boxes in that image resized to `to_size`."""
    (rows, cols), (to_rows, to_cols) = from_size, to_size
    scale = np.array([to_cols / cols, to_rows / rows] * 2, np.float32)
    return np.asarray(boxes, np.float32) * scale


def detect(model, paths, batch_size=8, score_threshold=0.001, **options):
    """Detections of an SSDLite `model` on image files.

    Args:
        model: an SSDLite (`keras_mobilenets.detection.SSDLite`).
        paths: image files.
        batch_size: images per `model.predict` call.
        score_threshold, options: of `postprocess` (torchvision's defaults).

    Returns:
        A list (one per path) of dicts of NumPy arrays, as `postprocess`:
        "boxes" `(N, 4)` `xyxy` in the pixels of the image file, "scores",
        "labels", by decreasing score.
    """
    anchors = anchors_for(model)
    size = _image_size(model)
    batch_size = arguments.integer()("batch_size", batch_size)
    paths = list(paths)
    detections = []
    for start in range(0, len(paths), batch_size):
        loaded = [load_image(p, size) for p in paths[start:start + batch_size]]
        batch = np.stack([image for image, _ in loaded])
        if keras.config.image_data_format() == "channels_first":
            batch = batch.transpose(0, 3, 1, 2)
        outputs = model.predict_on_batch(batch)
        found = postprocess(outputs, anchors, size, score_threshold,
                            **options)
        for d, (_, own_size) in zip(found, loaded):
            d["boxes"] = scale_boxes(d["boxes"], size, own_size)
            detections.append(d)
    return detections
