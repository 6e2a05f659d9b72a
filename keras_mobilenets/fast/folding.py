"""Folding a BatchNorm into the convolution before it: which pairs of a
functional model can be folded (`foldable_pairs`) and the arithmetic
(`fold_into_conv`), shared by `keras_mobilenets.fold_batch_norm` and the
PyTorch backend's inference plan."""

import keras

CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


def fold_into_conv(kernel, bias, gamma, beta, mean, variance, epsilon,
                   depthwise):
    """Kernel and bias of a convolution followed by an inference BatchNorm.

    `y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta` is the
    convolution with kernel `W * s` and bias `(b - mean) * s + beta`,
    `s = gamma / sqrt(var + eps)` per output channel. Arrays of any kind
    with NumPy's operators (NumPy, torch), the kernel in Keras' layout;
    `bias`, `gamma` and `beta` may be None (no bias, no scale, no center).
    """
    # Output channel c * multiplier + m of a depthwise conv is kernel[..., c, m].
    out_shape = tuple(kernel.shape[2:] if depthwise else kernel.shape[3:])
    scale = (1.0 if gamma is None else gamma) / (variance + epsilon) ** 0.5
    shift = (0.0 if bias is None else bias) - mean
    return (kernel * scale.reshape(out_shape),
            shift * scale + (0.0 if beta is None else beta))


def _outputs_of(model):
    """id of each layer's output tensor -> the layer (layers called once)."""
    producers = {}
    for layer in model.layers:
        if len(layer._inbound_nodes) == 1:
            producers[id(layer.output)] = layer
    return producers


def _consumers(model):
    """id of a tensor -> how many layer calls (and model outputs) use it."""
    counts = {}
    for layer in model.layers:
        if len(layer._inbound_nodes) != 1 or isinstance(layer, keras.layers.InputLayer):
            continue
        for tensor in keras.tree.flatten(layer.input):
            counts[id(tensor)] = counts.get(id(tensor), 0) + 1
    for tensor in keras.tree.flatten(model.outputs):
        counts[id(tensor)] = counts.get(id(tensor), 0) + 1
    return counts


def foldable_pairs(model):
    """(convolution, BatchNorm) pairs of `model` that can be folded: the BN
    normalises the channel axis of a convolution's output, and nothing else
    reads that output. Keyed by BN name."""
    producers, consumers = _outputs_of(model), _consumers(model)
    channel_axis = -1 if keras.config.image_data_format() == "channels_last" else 1
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        if len(layer._inbound_nodes) != 1:
            continue
        conv = producers.get(id(layer.input))
        axis = layer.axis if layer.axis >= 0 else len(layer.input.shape) + layer.axis
        wanted = channel_axis % len(layer.input.shape)
        if (isinstance(conv, CONVS) and axis == wanted
                and getattr(conv, "groups", 1) == 1
                and conv.activation in (None, keras.activations.linear)
                and consumers.get(id(conv.output)) == 1):
            pairs[layer.name] = conv
    return pairs
