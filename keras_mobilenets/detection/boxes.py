"""SSD box coding: ground-truth boxes as offsets from their anchors and back,
with `keras.utils.bounding_boxes`' delta coding (weights as its variance)."""

import math

import keras

from .. import arguments

WEIGHTS = (10.0, 10.0, 5.0, 5.0)
# torchvision's BoxCoder caps dw and dh (after the weights) at log(1000 / 16)
# before exp, so one wild regression cannot overflow; Keras' decoding has no
# cap: it is applied here.
SCALE_CLIP = math.log(1000.0 / 16)


def _weights(weights):
    if not hasattr(weights, "__len__") or len(weights) != 4:
        raise ValueError("`weights` must be 4 numbers (x, y, w, h). "
                         f"Received: weights={weights!r}")
    return [arguments.number()("weights", w) for w in weights]


def _check_shapes(name, value, anchors):
    shape, anchor_shape = tuple(value.shape), tuple(anchors.shape)
    if len(anchor_shape) != 2 or anchor_shape[-1] != 4:
        raise ValueError("`anchors` must have shape (num_anchors, 4). "
                         f"Received: anchors.shape={anchor_shape}")
    if len(shape) not in (2, 3) or shape[-2:] != anchor_shape:
        raise ValueError(
            f"`{name}` must have shape (num_anchors, 4) or (batch, "
            f"num_anchors, 4), with anchors of shape {anchor_shape}. "
            f"Received: {name}.shape={shape}")


def encode(boxes, anchors, weights=WEIGHTS):
    """`xyxy` boxes as SSD regression targets from their anchors: `(dx, dy,
    dw, dh)` times `weights`, shape of `boxes` (`(A, 4)` or `(B, A, 4)`), a
    backend tensor."""
    boxes = keras.ops.convert_to_tensor(boxes, "float32")
    anchors = keras.ops.convert_to_tensor(anchors, "float32")
    _check_shapes("boxes", boxes, anchors)
    variance = [1.0 / w for w in _weights(weights)]
    return keras.utils.bounding_boxes.encode_box_to_deltas(
        anchors, boxes, anchor_format="xyxy", box_format="xyxy",
        encoding_format="center_xywh", variance=variance)


def decode(deltas, anchors, weights=WEIGHTS, scale_clip=SCALE_CLIP):
    """SSD regressions back to `xyxy` boxes (`(A, 4)` or `(B, A, 4)`), a
    backend tensor; `dw`, `dh` (after the weights) capped at `scale_clip`."""
    deltas = keras.ops.convert_to_tensor(deltas, "float32")
    anchors = keras.ops.convert_to_tensor(anchors, "float32")
    _check_shapes("deltas", deltas, anchors)
    weights = _weights(weights)
    scale_clip = arguments.number()("scale_clip", scale_clip)
    cap = keras.ops.convert_to_tensor(
        [math.inf, math.inf, scale_clip * weights[2], scale_clip * weights[3]],
        "float32")
    return keras.utils.bounding_boxes.decode_deltas_to_boxes(
        anchors, keras.ops.minimum(deltas, cap), anchor_format="xyxy",
        box_format="xyxy", encoded_format="center_xywh",
        variance=[1.0 / w for w in weights])
