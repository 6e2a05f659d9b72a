"""Multiply-accumulate count of a model's inference pass, per image."""

import math

import keras


def _spatial(shape):
    """Product of the spatial dimensions of a 4D shape (without batch)."""
    if keras.config.image_data_format() == "channels_first":
        return math.prod(shape[2:])
    return math.prod(shape[1:3])


_POOLING = (keras.layers.GlobalAveragePooling2D, keras.layers.AveragePooling2D)


def layer_macs(layer, count_norm=False):
    """MACs of one layer, from its kernel and output shape.

    Counts convolutions, depthwise convolutions and dense layers, the way the
    MobileNet papers do; normalisation, activations, pooling and additions are
    not counted. A custom layer reports its own count through a `count_macs()`
    method (e.g. attention matmuls). With `count_norm=True`, also what
    fvcore (the counter behind timm's published GMACs) adds: two per element
    a BatchNormalization scales and shifts (one without gamma and beta), one
    per element an average pooling reads.
    """
    if hasattr(layer, "count_macs"):
        return int(layer.count_macs())
    if count_norm and isinstance(layer, keras.layers.BatchNormalization):
        affine = layer.scale or layer.center
        return math.prod(layer.output.shape[1:]) * (2 if affine else 1)
    if count_norm and isinstance(layer, _POOLING):
        return math.prod(layer.input.shape[1:])
    if not layer.weights:
        return 0
    out = layer.output.shape
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw, channels, multiplier = layer.kernel.shape
        return _spatial(out) * kh * kw * channels * multiplier
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, cin, cout = layer.kernel.shape
        return _spatial(out) * kh * kw * cin * cout
    if isinstance(layer, keras.layers.Dense):
        cin, cout = layer.kernel.shape
        return math.prod(out[1:-1]) * cin * cout
    return 0


def count_macs(model, count_norm=False):
    """Multiply-accumulates of one image through `model` (static input size).

    Sums `layer_macs` over every layer, nested models included. The default
    counts what the MobileNet V1-V4 papers count (convolutions, dense layers,
    attention matmuls): MobileNet 1.0 gives 569M, MobileNetV2 1.0 301M,
    MobileNetV3Large 217M. `count_norm=True` adds BatchNorm and average
    pooling, one per element, which is how timm's published figures (fvcore)
    count: MobileNetV4ConvSmall at 224 gives 0.19G that way, 0.186G without.
    Raises ValueError when the input size is dynamic: build the model with a
    fixed `input_shape` to count.
    """
    if any(d is None for d in model.input_shape[1:]):
        raise ValueError(
            "count_macs needs a static input size. Received a model with "
            f"input_shape={model.input_shape}; build it with e.g. "
            "input_shape=(224, 224, 3)."
        )
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_macs(layer, count_norm)
        else:
            total += layer_macs(layer, count_norm)
    return total
