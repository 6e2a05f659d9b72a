"""Reading a functional model's graph: which BatchNorm can be folded into
the convolution before it (`fold.fold_batch_norm`, the PyTorch backend's
inference plan)."""

import keras

_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


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
        if (isinstance(conv, _CONVS) and axis == wanted
                and tuple(conv.dilation_rate) == (1, 1)
                and getattr(conv, "groups", 1) == 1
                and conv.activation in (None, keras.activations.linear)
                and consumers.get(id(conv.output)) == 1):
            pairs[layer.name] = conv
    return pairs
