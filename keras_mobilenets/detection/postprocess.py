"""SSD post-processing on the host, after the model: per image, boxes
decoded and clipped to the image, then per class the `topk_candidates` best
scores above `score_threshold`, per-class NMS, and the `max_detections` best.

NumPy, with Keras only for the box decoding and IoU
(`keras.utils.bounding_boxes`), because Keras has no NMS: `keras.ops` has
none, TensorFlow's `tf.image.non_max_suppression` and torchvision's `nms`
each run on one backend only, and the outputs vary in size per image, which
a compiled graph handles badly. On the host the same code serves every
backend and a LiteRT or ONNX model's raw outputs alike. Greedy NMS as
torchvision's `nms`: in decreasing score order, a kept box removes the later
boxes of its class whose IoU with it is above the threshold (strictly).
"""

import keras
import numpy as np

from .. import arguments
from . import boxes as box_coding
from .anchors import _pair

# Classes whose NMS runs together: a (classes, k, k) IoU array at a time.
_CHUNK_ELEMENTS = 1 << 22


def _softmax(logits):
    logits = logits - logits.max(-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(-1, keepdims=True)


def nms_per_class(boxes, valid, iou_threshold):
    """Greedy NMS of each class's candidates at once.

    boxes: `(C, K, 4)` `xyxy`, each class's candidates by decreasing score;
    valid: `(C, K)` bool, False for padding. Returns `(C, K)` bool, the kept.
    """
    keep = np.zeros(valid.shape, bool)
    step = max(1, _CHUNK_ELEMENTS // max(1, valid.shape[1] ** 2))
    for start in range(0, len(boxes), step):
        part = slice(start, start + step)
        iou = keras.ops.convert_to_numpy(keras.utils.bounding_boxes.compute_iou(
            boxes[part], boxes[part], bounding_box_format="xyxy"))
        over = iou > iou_threshold
        removed = ~valid[part]
        for i in range(valid.shape[1]):
            kept_i = ~removed[:, i]
            keep[part, i] = kept_i
            removed[:, i + 1:] |= kept_i[:, None] & over[:, i, i + 1:]
    return keep


def _check(outputs, anchors, image_size):
    if not isinstance(outputs, dict) or set(outputs) != {
            "bbox_regression", "cls_logits"}:
        received = (sorted(outputs) if isinstance(outputs, dict)
                    else type(outputs).__name__)
        raise TypeError(
            "`outputs` must be the model's dict {'bbox_regression', "
            f"'cls_logits'}}. Received: outputs={received}")
    deltas = np.asarray(keras.ops.convert_to_numpy(
        outputs["bbox_regression"]), np.float32)
    logits = np.asarray(keras.ops.convert_to_numpy(
        outputs["cls_logits"]), np.float32)
    anchors = np.asarray(anchors, np.float32)
    if (anchors.ndim != 2 or anchors.shape[1] != 4 or deltas.ndim != 3
            or deltas.shape[1:] != anchors.shape or logits.ndim != 3
            or logits.shape[:2] != deltas.shape[:2] or logits.shape[2] < 2):
        raise ValueError(
            "Expected bbox_regression (batch, A, 4), cls_logits (batch, A, "
            "num_classes >= 2) and anchors (A, 4). Received: "
            f"bbox_regression.shape={deltas.shape}, "
            f"cls_logits.shape={logits.shape}, anchors.shape={anchors.shape}")
    return deltas, logits, anchors, _pair("image_size", image_size)


def postprocess(outputs, anchors, image_size, score_threshold=0.001,
                iou_threshold=0.55, topk_candidates=300, max_detections=300,
                weights=box_coding.WEIGHTS):
    """Detections of each image from the raw outputs of an SSD model.

    Args:
        outputs: the model's dict {"bbox_regression": (B, A, 4),
            "cls_logits": (B, A, num_classes)} (backend tensors or NumPy),
            class 0 the background.
        anchors: `(A, 4)` from `default_boxes`.
        image_size: `(rows, cols)` of the model's input (boxes are clipped
            to it).
        score_threshold: keep scores above it (softmax over all classes).
        iou_threshold: NMS removes boxes of the same class whose IoU with a
            better one is above it.
        topk_candidates: candidates per class before NMS.
        max_detections: detections per image after NMS.

    Defaults are torchvision's SSDLite. Returns a list (one per image) of
    dicts of NumPy arrays: "boxes" `(N, 4)` float32 `xyxy` in input pixels,
    "scores" `(N,)` float32 and "labels" `(N,)` int64, by decreasing score.
    """
    deltas, logits, anchors, (rows, cols) = _check(outputs, anchors,
                                                   image_size)
    score_threshold = arguments.number(0.0, 1.0, include_low=True,
                                       include_high=False)(
        "score_threshold", score_threshold)
    iou_threshold = arguments.number(0.0, 1.0, include_low=True)(
        "iou_threshold", iou_threshold)
    topk_candidates = arguments.integer()("topk_candidates", topk_candidates)
    max_detections = arguments.integer()("max_detections", max_detections)

    boxes = keras.ops.convert_to_numpy(
        box_coding.decode(deltas, anchors, weights))
    boxes = np.clip(boxes, 0.0, np.array([cols, rows, cols, rows], np.float32))
    scores = _softmax(logits)[..., 1:]  # (B, A, C - 1): no background
    k = min(topk_candidates, scores.shape[1])
    detections = []
    for image_boxes, image_scores in zip(boxes, scores):
        # each class's k best anchors, by decreasing score (stable on ties)
        order = np.argsort(-image_scores.T, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(image_scores.T, order, axis=1)  # (C-1, k)
        valid = top > score_threshold
        width = int(valid.sum(1).max())  # no IoU for candidates none has
        order, top, valid = order[:, :width], top[:, :width], valid[:, :width]
        kept = (nms_per_class(image_boxes[order], valid, iou_threshold)
                if width else valid)
        classes, ranks = np.nonzero(kept)
        kept_scores = top[classes, ranks]
        final = np.argsort(-kept_scores, kind="stable")[:max_detections]
        classes, ranks = classes[final], ranks[final]
        detections.append({
            "boxes": image_boxes[order[classes, ranks]],
            "scores": kept_scores[final],
            "labels": (classes + 1).astype(np.int64)})
    return detections
