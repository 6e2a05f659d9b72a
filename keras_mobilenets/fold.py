"""Inference-only transform: BatchNorm folded into the convolution before it."""

import keras
import numpy as np

from . import layers as km_layers
from .builder import CLASS_NAMES_ATTRIBUTE

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


def _array(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), np.float64)


def _folded_weights(conv, bn):
    """Kernel and bias of `conv` followed by `bn` in inference mode."""
    kernel = _array(conv.kernel)
    depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
    # Output channel c * multiplier + m of a depthwise conv is kernel[..., c, m].
    out_shape = kernel.shape[2:] if depthwise else kernel.shape[3:]
    channels = int(np.prod(out_shape))
    bias = _array(conv.bias) if conv.use_bias else np.zeros(channels)
    gamma = _array(bn.gamma) if bn.scale else np.ones(channels)
    beta = _array(bn.beta) if bn.center else np.zeros(channels)
    scale = gamma / np.sqrt(_array(bn.moving_variance) + bn.epsilon)
    kernel = kernel * scale.reshape(out_shape)
    return kernel, (bias - _array(bn.moving_mean)) * scale + beta


def fold_batch_norm(model):
    """A copy of `model` for inference, with each BatchNorm that follows a
    convolution folded into that convolution's kernel and bias.

    `y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta` is the
    convolution with kernel `W * s` and bias `(b - mean) * s + beta`,
    `s = gamma / sqrt(var + eps)` per output channel: one pass over the
    feature map instead of two. The copy computes the same function as
    `model` in inference mode (to float32 rounding) and keeps every other
    layer and name; the folded BatchNorm layers are gone, so it is not meant
    for training. `model` itself is unchanged and shares no variables with
    the copy.

    Args:
        model: a functional `keras.Model` (any model built by this package).

    Returns:
        A functional `keras.Model`.
    """
    # Functional and Sequential models have `inputs`; subclassed ones do not.
    if not isinstance(model, keras.Model) or not hasattr(model, "inputs"):
        raise TypeError(
            "fold_batch_norm needs a functional keras.Model. "
            f"Received: model={model!r}"
        )
    pairs = foldable_pairs(model)
    convs = {conv.name: bn_name for bn_name, conv in pairs.items()}

    def clone(layer):
        config = layer.get_config()
        if layer.name in convs:
            config["use_bias"] = True
            cls = type(layer)
            if cls is keras.layers.Conv2D:
                cls = km_layers.Conv2D
            elif cls is keras.layers.DepthwiseConv2D:
                cls = km_layers.DepthwiseConv2D
            return cls.from_config(config)
        return type(layer).from_config(config)

    def call(layer, *args, **kwargs):
        if layer.name in pairs:
            return args[0]
        return layer(*args, **kwargs)

    folded = keras.models.clone_model(
        model, clone_function=clone, call_function=call)
    for layer in model.layers:
        if layer.name in pairs or not layer.weights:
            continue
        target = folded.get_layer(layer.name)
        if layer.name in convs:
            kernel, bias = _folded_weights(layer, model.get_layer(convs[layer.name]))
            target.kernel.assign(kernel.astype(target.kernel.dtype))
            target.bias.assign(bias.astype(target.bias.dtype))
        else:
            target.set_weights(layer.get_weights())
    if hasattr(model, CLASS_NAMES_ATTRIBUTE):  # the same top, the same classes
        setattr(folded, CLASS_NAMES_ATTRIBUTE,
                getattr(model, CLASS_NAMES_ATTRIBUTE))
    return folded
