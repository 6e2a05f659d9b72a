"""Training targets of SSD, one image at a time on the host (NumPy out, so it
runs in a `tf.data` pipeline through `tf.numpy_function` on any backend):
anchors matched to ground-truth boxes, then encoded as the loss's y_true."""

import keras
import numpy as np

from .. import arguments
from . import boxes as box_coding


def _boxes(name, value):
    value = np.asarray(value, np.float32)
    if value.ndim != 2 or value.shape[-1] != 4:
        raise ValueError(f"`{name}` must have shape (num_boxes, 4), xyxy. "
                         f"Received: {name}.shape={value.shape}")
    return value


def match_anchors(boxes, anchors, iou_threshold=0.5):
    """The ground-truth box each anchor is assigned to, `(A,)` int64, -1 for
    background.

    SSD's matching, as torchvision's `SSDMatcher`: an anchor takes the box it
    overlaps most (the first such box on a tie) if that IoU is at least
    `iou_threshold`; then each box takes the anchor it overlaps most (the
    first on a tie) whatever the IoU, a later box winning an anchor two
    boxes share. IoU from `keras.utils.bounding_boxes.compute_iou`.
    """
    boxes = _boxes("boxes", boxes)
    anchors = _boxes("anchors", anchors)
    iou_threshold = arguments.number(0.0, 1.0)("iou_threshold", iou_threshold)
    matches = np.full((len(anchors),), -1, np.int64)
    if len(boxes) == 0:
        return matches
    iou = keras.ops.convert_to_numpy(keras.utils.bounding_boxes.compute_iou(
        boxes, anchors, bounding_box_format="xyxy"))  # (M, A)
    best_box = np.argmax(iou, axis=0)
    keep = iou[best_box, np.arange(len(anchors))] >= iou_threshold
    matches[keep] = best_box[keep]
    for box, anchor in enumerate(np.argmax(iou, axis=1)):
        matches[anchor] = box  # in order: a later box takes a shared anchor
    return matches


def encode_targets(boxes, labels, anchors, iou_threshold=0.5,
                   weights=box_coding.WEIGHTS):
    """The y_true of one image for `ssd_loss`, a dict of NumPy arrays:

    - `"bbox_regression"`: `(A, 5)` float32, each anchor's matched box
      encoded (`boxes.encode`, zero for background), then 1.0 on foreground
      anchors, 0.0 on background ones;
    - `"cls_logits"`: `(A,)` int32, each anchor's class, 0 for background.

    `boxes` `(M, 4)` `xyxy` in input pixels (M may be 0), `labels` `(M,)`
    ints from 1 (0 is the background); rows labelled -1 are left out (Keras'
    mark of padding and of boxes its augmentation layers clipped away).
    Batched by stacking, as `tf.data` does. In a `tf.data` map, wrap it in
    `tf.numpy_function`.
    """
    boxes = _boxes("boxes", boxes)
    anchors = _boxes("anchors", anchors)
    labels = np.asarray(labels)
    # whole numbers of any dtype (Keras' box pipelines may carry floats)
    if labels.shape != (len(boxes),) or not (
            np.issubdtype(labels.dtype, np.number)
            and np.array_equal(labels, np.round(labels))):
        raise ValueError(
            f"`labels` must be {len(boxes)} whole numbers, one per box. "
            f"Received: labels={labels.tolist()} of shape {labels.shape}")
    labels = labels.astype(np.int64)
    if ((labels < 1) & (labels != -1)).any():
        raise ValueError("`labels` must be at least 1 (0 is the background), "
                         f"or -1 for none. Received: labels={labels.tolist()}")
    boxes, labels = boxes[labels != -1], labels[labels != -1]
    if ((boxes[:, 2:] <= boxes[:, :2]).any()):
        raise ValueError(
            "Every box must have x2 > x1 and y2 > y1 (label -1 leaves one "
            f"out). Received: boxes={boxes.tolist()}")
    matches = match_anchors(boxes, anchors, iou_threshold)
    foreground = matches >= 0
    regression = np.zeros((len(anchors), 5), np.float32)
    classes = np.zeros((len(anchors),), np.int32)
    if foreground.any():
        regression[foreground, :4] = keras.ops.convert_to_numpy(
            box_coding.encode(boxes[matches[foreground]], anchors[foreground],
                              weights))
        regression[foreground, 4] = 1.0
        classes[foreground] = labels[matches[foreground]]
    return {"bbox_regression": regression, "cls_logits": classes}
