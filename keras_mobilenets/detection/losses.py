"""The SSD loss as two Keras losses, one per output of the model's dict
(`ssd_loss()`), equal to torchvision's `SSD.compute_loss`: smooth L1 on the
foreground anchors and cross-entropy with 3:1 hard negative mining, both
divided by the batch's number of foreground anchors."""

import keras
from keras import ops

from .. import arguments


def _static_shape(x):
    """The static shape as a tuple, None where the rank is unknown (a
    `tf.numpy_function` output in a TensorFlow graph)."""
    try:
        return tuple(x.shape)
    except (TypeError, ValueError):
        return None


def _fits(shape, expected):
    """Whether a static shape fits `expected` (None: any size); an unknown
    rank fits anything."""
    if shape is None:
        return True
    return len(shape) == len(expected) and all(
        a is None or b is None or a == b for a, b in zip(shape, expected))


def _like(y_true, y_pred, last):
    """y_true as (batch, anchors) + last: a known rank where tf.data gave
    none, and (batch, anchors, 1) classes flattened."""
    anchors = y_pred.shape[1]
    if anchors is None:
        anchors = ops.shape(y_pred)[1]
    return ops.reshape(y_true, (-1, anchors) + last)


def _foreground_count(foreground):
    """The batch's number of foreground anchors, at least 1 (the divisor of
    both losses)."""
    return ops.maximum(ops.sum(ops.cast(foreground, "float32")), 1.0)


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class SSDBoxLoss(keras.losses.Loss):
    """Smooth L1 (beta 1) of the box regressions on foreground anchors,
    divided by the batch's number of foreground anchors.

    y_true: `(B, A, 5)` from `encode_targets` (targets, then 1.0 on
    foreground anchors); y_pred: `(B, A, 4)`. Returns the per-image sums
    over that count, summed by Keras (reduction "sum").
    """

    def __init__(self, name="ssd_box_loss", dtype=None):
        super().__init__(name=name, reduction="sum", dtype=dtype)

    def call(self, y_true, y_pred):
        if not (_fits(_static_shape(y_true), (None, None, 5))
                and _fits(_static_shape(y_pred), (None, None, 4))):
            raise ValueError(
                "SSDBoxLoss takes y_true (batch, anchors, 5) from "
                "encode_targets and y_pred (batch, anchors, 4). Received: "
                f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
        y_pred = ops.cast(y_pred, "float32")
        y_true = _like(y_true, y_pred, (5,))
        foreground = ops.cast(y_true[..., 4], "float32") > 0.5
        diff = y_pred - ops.cast(y_true[..., :4], "float32")
        size = ops.abs(diff)
        smooth_l1 = ops.where(size < 1.0, 0.5 * diff * diff, size - 0.5)
        per_image = ops.sum(
            ops.where(foreground[..., None], smooth_l1, 0.0), axis=(1, 2))
        return per_image / _foreground_count(foreground)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class SSDClassificationLoss(keras.losses.Loss):
    """Cross-entropy of the class logits on the foreground anchors and on
    the `neg_to_pos_ratio` times as many background anchors of the same
    image with the highest loss (hard negatives), divided by the batch's
    number of foreground anchors.

    y_true: `(B, A)` classes from `encode_targets` (0 background); y_pred:
    `(B, A, num_classes)` logits. An image without foreground takes no
    negatives (as torchvision). Reduction "sum", as `SSDBoxLoss`.
    """

    def __init__(self, neg_to_pos_ratio=3.0, name="ssd_classification_loss",
                 dtype=None):
        super().__init__(name=name, reduction="sum", dtype=dtype)
        self.neg_to_pos_ratio = arguments.number()(
            "neg_to_pos_ratio", neg_to_pos_ratio)

    def call(self, y_true, y_pred):
        true_shape = _static_shape(y_true)
        if true_shape is not None and len(true_shape) == 3 and (
                true_shape[-1] == 1):
            true_shape = true_shape[:2]
        pred_shape = _static_shape(y_pred)
        if not (_fits(pred_shape, (None, None, None))
                and _fits(true_shape, pred_shape and pred_shape[:2])):
            raise ValueError(
                "SSDClassificationLoss takes y_true (batch, anchors) from "
                "encode_targets and y_pred (batch, anchors, num_classes). "
                f"Received: y_true.shape={y_true.shape}, "
                f"y_pred.shape={y_pred.shape}")
        labels = ops.cast(_like(y_true, y_pred, ()), "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        cross_entropy = -ops.take_along_axis(
            log_probs, labels[..., None], axis=-1)[..., 0]
        foreground = labels > 0
        num_negative = self.neg_to_pos_ratio * ops.sum(
            ops.cast(foreground, "float32"), axis=1, keepdims=True)
        # Background anchors by decreasing loss, foreground ones last; the
        # first num_negative of each image are its hard negatives (torchvision
        # ranks the same way, so foreground anchors count twice only if an
        # image had fewer background anchors than negatives to take).
        ranked = ops.argsort(
            -ops.where(foreground, float("-inf"), cross_entropy), axis=1)
        ranked_loss = ops.take_along_axis(cross_entropy, ranked, axis=1)
        rank = ops.arange(ops.shape(labels)[1], dtype="float32")[None]
        negatives = ops.sum(
            ops.where(rank < num_negative, ranked_loss, 0.0), axis=1)
        positives = ops.sum(ops.where(foreground, cross_entropy, 0.0), axis=1)
        return (positives + negatives) / _foreground_count(foreground)

    def get_config(self):
        return {"neg_to_pos_ratio": self.neg_to_pos_ratio, "name": self.name,
                "dtype": self.dtype}


def ssd_loss(neg_to_pos_ratio=3.0):
    """The loss of an SSD model whose outputs are the dict
    {"bbox_regression", "cls_logits"}: `model.compile(loss=ssd_loss())`,
    with the y_true dicts of `encode_targets`. Keras sums the two (and
    reports each, as torchvision's two losses)."""
    return {"bbox_regression": SSDBoxLoss(),
            "cls_logits": SSDClassificationLoss(neg_to_pos_ratio)}
