"""Activation ranges of a QAT model from real inputs, and freezing them."""

import keras
import numpy as np

from .layers import ActivationQuantizer


def quantizers(qat):
    """The model's activation quantizers, or an error naming what it got."""
    found = [layer for layer in qat.layers
             if isinstance(layer, ActivationQuantizer)] \
        if isinstance(qat, keras.Model) else []
    if not found:
        raise ValueError(
            "Expected a QAT model of `keras_mobilenets.quantization.prepare`"
            f" (it has activation quantizers). Received: {qat!r}")
    return found


def _batches(images, batch_size):
    if isinstance(images, np.ndarray) or hasattr(images, "shape"):
        images = np.asarray(keras.ops.convert_to_numpy(images))
        if images.ndim < 2 or not len(images):
            raise ValueError("`images` must be a non-empty batch of model "
                             f"inputs. Received: shape {images.shape}")
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size]
        return
    try:
        iterator = iter(images)
    except TypeError:
        raise TypeError("`images` must be an array of model inputs or an "
                        "iterable of batches (a tf.data.Dataset). Received: "
                        f"{type(images).__name__}") from None
    for batch in iterator:
        if isinstance(batch, (tuple, list)):
            batch = batch[0]  # (inputs, targets) pairs
        yield batch


def calibrate(qat, images, batch_size=32):
    """Sets the activation ranges of `qat` from `images` (an array of model
    inputs, or an iterable of batches such as a `tf.data.Dataset`, of
    inputs or (inputs, targets)): each range becomes the mean over batches
    of the batch min and max (a moving average after
    1 / (1 - momentum) batches). No weight changes; BatchNorm, dropout and
    the rest run in inference mode. Calling it again goes on averaging.

    Returns:
        The number of batches seen.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
            or batch_size < 1:
        raise ValueError("`batch_size` must be a positive int. "
                         f"Received: batch_size={batch_size!r}")
    layers = quantizers(qat)
    seen = 0
    try:
        for layer in layers:
            layer.calibrating = True
        for batch in _batches(images, batch_size):
            qat(keras.ops.convert_to_tensor(batch, "float32"), training=False)
            seen += 1
    finally:
        for layer in layers:
            layer.calibrating = False
    if not seen:
        raise ValueError("`images` gave no batch to calibrate on.")
    return seen


def freeze_ranges(qat, frozen=True):
    """Stops (or, `frozen=False`, resumes) the ranges' moving averages in
    training: fine-tuning then learns weights for fixed ranges."""
    for layer in quantizers(qat):
        layer.frozen.assign(1.0 if frozen else 0.0)


def uncalibrated(qat):
    """Names of the quantizers that have seen no batch."""
    return [layer.name for layer in quantizers(qat) if not layer.calibrated]
