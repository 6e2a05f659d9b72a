"""Inference-only transform: BatchNorm folded into the convolution before it."""

import keras
import numpy as np

from . import feature_info
from . import layers as km_layers
from .fast.folding import fold_into_conv, foldable_pairs
from .model import Model


def _array(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), np.float64)


def _folded_weights(conv, bn):
    """Kernel and bias of `conv` followed by `bn` in inference mode."""
    arrays = [None if v is None else _array(v) for v in (
        conv.kernel, conv.bias, bn.gamma, bn.beta, bn.moving_mean,
        bn.moving_variance)]
    return fold_into_conv(*arrays, bn.epsilon,
                          isinstance(conv, keras.layers.DepthwiseConv2D))


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
        A functional `keras.Model`: a `keras_mobilenets.Model` with the
        same facts for one (a tap on a folded BatchNorm moves to its
        convolution, whose output the copy computes).
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
    if isinstance(model, Model):  # the same facts; a folded tap is its conv
        def rename(n):
            return pairs[n].name if n in pairs else n
        taps = model.taps and {s: rename(n) for s, n in model.taps.items()}
        copy = Model(folded.input, folded.output, name=folded.name,
                     taps=taps, class_names=model.class_names,
                     data_config=model.data_config,
                     feature_info=feature_info.renamed(model.feature_info,
                                                       rename))
        if folded.compiled:
            copy.compile_from_config(folded.get_compile_config())
        folded = copy
    return folded
