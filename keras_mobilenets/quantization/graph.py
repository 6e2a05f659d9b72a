"""`prepare`: a model of this package rewritten, layer for layer, into the
QAT model that simulates LiteRT's int8 inference."""

import keras
from keras import layers

from .. import feature_info
from ..fast.folding import foldable_pairs
from ..model import Model
from .layers import (PASS_THROUGH, ActivationQuantizer, QuantizedConv2D,
                     QuantizedDense)
from .nested import inline_nested

# Layers whose output LiteRT requantizes to int8 with a range of its own.
REQUANTIZED = (layers.Add, layers.Subtract, layers.Multiply,
               layers.Concatenate, layers.GlobalAveragePooling2D,
               layers.AveragePooling2D, layers.Rescaling,
               layers.Normalization)
# Keras operations (not layers) of a functional graph, e.g. `x + 3.0`.
ELEMENTWISE_OPS = ("Add", "Subtract", "Multiply")
# Activations LiteRT computes on int8 (its own kernels or lookup tables).
ACTIVATIONS = ("relu", "relu6", "hard_silu", "hard_swish", "hard_sigmoid",
               "sigmoid", "softmax", "linear")
# LiteRT fuses a ReLU/ReLU6 into these (one int8 output, after the ReLU).
FUSES_RELU = (layers.Conv2D, layers.DepthwiseConv2D, layers.Dense,
              layers.Add, layers.Subtract, layers.Multiply)
# Softmax's int8 output in LiteRT: scale 1/256, zero point -128.
SOFTMAX_RANGE = (0.0, 255.0 / 256.0)


def _activation_name(layer):
    """The name of an Activation layer's or a ReLU layer's function, or None
    for a ReLU that LiteRT has no int8 kernel for (leaky, thresholded)."""
    if isinstance(layer, layers.ReLU):
        config = layer.get_config()
        if config["negative_slope"] or config["threshold"]:
            return None
        return {None: "relu", 6.0: "relu6"}.get(config["max_value"])
    name = getattr(layer.activation, "__name__", None)
    return name if name in ACTIVATIONS else None


def _is_fusable_relu(op):
    return (isinstance(op, (layers.ReLU, layers.Activation))
            and _activation_name(op) in ("relu", "relu6"))


def _unsupported(op, why=""):
    return ValueError(
        f"quantization.prepare cannot quantize layer {op.name!r} of type "
        f"{type(op).__name__}{why}. It quantizes Conv2D, DepthwiseConv2D "
        "(each with the BatchNormalization after it), Dense, ReLU/ReLU6, "
        f"the activations {', '.join(ACTIVATIONS)}, "
        f"{', '.join(c.__name__ for c in REQUANTIZED)} and the layers "
        "LiteRT passes int8 through: "
        f"{', '.join(c.__name__ for c in PASS_THROUGH)}.")


class _Graph:
    """Who reads what in `model`: consumers of each tensor, BatchNorm pairs."""

    def __init__(self, model):
        self.pairs = foldable_pairs(model)  # BN name -> conv
        self.bn_of = {conv.name: model.get_layer(bn)
                      for bn, conv in self.pairs.items()}
        self.readers = {}  # id(tensor) -> [operations reading it]
        for op in model.operations:
            if isinstance(op, layers.InputLayer):
                continue
            if len(op._inbound_nodes) != 1:
                raise _unsupported(op, " (called more than once: a shared "
                                   "layer)")
            for tensor in keras.tree.flatten(op.input):
                self.readers.setdefault(id(tensor), []).append(op)
        self.outputs = {id(t) for t in keras.tree.flatten(model.outputs)}

    def sole_reader(self, op):
        """The operation that alone reads `op`'s output (its BatchNorm's,
        where it is folded), or None."""
        if op.name in self.bn_of:
            op = self.bn_of[op.name]
        tensor = op.output
        readers = self.readers.get(id(tensor), [])
        if len(readers) != 1 or id(tensor) in self.outputs:
            return None
        return readers[0]


def _conv_activation(layer):
    name = getattr(layer.activation, "__name__", None)
    if name not in ("linear", "relu", "relu6"):
        raise _unsupported(layer, f" with activation {name!r} (fused: "
                           "linear, relu or relu6)")
    return None if name == "linear" else name


def _clone(op, graph):
    """The layer of the QAT model that computes `op` (BatchNorm: its
    convolution's, see `_call`)."""
    if not isinstance(op, layers.Layer):
        if type(op).__name__ not in ELEMENTWISE_OPS:
            raise _unsupported(op)
        return op
    if isinstance(op, (layers.Conv2D, layers.DepthwiseConv2D)):
        depthwise = isinstance(op, layers.DepthwiseConv2D)
        if (op.data_format != "channels_last" or getattr(op, "groups", 1) != 1
                or op.padding not in ("same", "valid")):
            raise _unsupported(op, " (grouped, channels_first or causal)")
        bn = graph.bn_of.get(op.name)
        return QuantizedConv2D(
            None if depthwise else op.filters, op.kernel_size, op.strides,
            op.padding, op.dilation_rate, op.use_bias, depthwise,
            op.depth_multiplier if depthwise else 1,
            None if bn is None else {"epsilon": bn.epsilon,
                                     "center": bn.center, "scale": bn.scale},
            _conv_activation(op), name=op.name)
    if isinstance(op, layers.Dense):
        if len(op.input.shape) != 2:
            raise _unsupported(op, " on more than 2 dimensions")
        _dense_activation(op)
        return QuantizedDense(op.units, op.use_bias, name=op.name)
    if isinstance(op, layers.BatchNormalization):
        if op.name not in graph.pairs:
            raise _unsupported(op, " (a BatchNormalization that does not "
                               "follow a convolution alone)")
        return op
    if isinstance(op, (layers.ReLU, layers.Activation)):
        if _activation_name(op) is None:
            raise _unsupported(op, " (its activation)")
    elif not isinstance(op, PASS_THROUGH + REQUANTIZED):
        raise _unsupported(op)
    return type(op).from_config(op.get_config())


def _dense_activation(layer):
    name = getattr(layer.activation, "__name__", None)
    if name not in ("linear", "relu", "relu6", "softmax"):
        raise _unsupported(layer, f" with activation {name!r}")
    return name


def _quantizes_output(op, graph):
    """Whether LiteRT writes `op`'s output as int8 with a range of its own
    (not where a ReLU it fuses follows: the ReLU's output is the one)."""
    if isinstance(op, PASS_THROUGH + (layers.BatchNormalization,)):
        return False
    if isinstance(op, layers.Activation) and _activation_name(op) == "linear":
        return False
    fuses = isinstance(op, FUSES_RELU) or (
        not isinstance(op, layers.Layer)
        and type(op).__name__ in ELEMENTWISE_OPS)
    if isinstance(op, (layers.Conv2D, layers.DepthwiseConv2D)) \
            and _conv_activation(op) is not None:
        fuses = False  # its own activation, fused already
    if isinstance(op, layers.Dense) and _dense_activation(op) != "linear":
        fuses = False
    return not (fuses and _is_fusable_relu(graph.sole_reader(op)))


def prepare(model):
    """The QAT model of `model`: the same function, weights and facts, with
    int8 inference simulated as LiteRT computes it (see
    `quantization.layers`). `model` is unchanged and shares no variables.

    Its activation ranges are unknown until `quantization.calibrate` (or
    training) has seen images.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "inputs"):
        raise TypeError("quantization.prepare needs a functional keras.Model "
                        f"(a model of keras_mobilenets). Received: {model!r}")
    if keras.config.image_data_format() != "channels_last":
        raise ValueError("quantization.prepare needs channels_last (LiteRT's "
                         "layout). Received: image_data_format="
                         f"{keras.config.image_data_format()!r}")
    model = inline_nested(model)  # a backbone under a head of its own
    graph = _Graph(model)
    quantized_inputs = {}
    produced = {}  # name of a layer -> of the one whose output stands for it
    # The cloned op of each original one, and which need a quantizer after.
    clones = {}

    def clone(op):
        new = _clone(op, graph)
        clones[id(new)] = op
        return new

    def quantized_input(tensor, op):
        # Rescaling or Normalization first: they run in float on the float
        # input, and LiteRT quantizes their output.
        if isinstance(op, (layers.Rescaling, layers.Normalization)):
            return tensor
        if id(tensor) not in quantized_inputs:
            name = tensor.name if isinstance(tensor.name, str) else "input"
            quantized_inputs[id(tensor)] = ActivationQuantizer(
                name=f"{name}_quant")(tensor)
        return quantized_inputs[id(tensor)]

    def call(new, *args, **kwargs):
        op = clones[id(new)]
        args, kwargs = keras.tree.map_structure(
            lambda t: quantized_input(t, op) if any(t is i for i in inputs)
            else t, (args, kwargs))
        if isinstance(op, layers.BatchNormalization):
            return args[0]  # folded into its convolution
        outputs = new(*args, **kwargs)
        if isinstance(op, layers.Dense):
            outputs = _dense_tail(op, outputs, graph)
        elif isinstance(op, layers.Activation) and \
                _activation_name(op) == "softmax":
            outputs = ActivationQuantizer(fixed_range=SOFTMAX_RANGE,
                                          name=f"{op.name}_quant")(outputs)
        elif _quantizes_output(op, graph):
            outputs = ActivationQuantizer(name=f"{op.name}_quant")(outputs)
        last = getattr(outputs, "_keras_history", None)
        if last is not None:
            produced[op.name] = last.operation.name
        return outputs

    inputs = [keras.Input(batch_shape=x.shape, dtype=x.dtype, name=x.name)
              for x in model.inputs]
    inputs_struct = keras.tree.pack_sequence_as(model._inputs_struct, inputs)
    outputs = model._run_through_graph(
        inputs_struct, operation_fn=clone, call_fn=call)
    name = f"{model.name}_qat"
    if isinstance(model, Model):
        qat = Model(inputs_struct, outputs, name=name,
                    taps=_taps(model, produced, graph),
                    feature_info=feature_info.renamed(
                        model.feature_info, _renamer(produced, graph)),
                    class_names=model.class_names,
                    data_config=model.data_config)
    else:
        qat = keras.Model(inputs_struct, outputs, name=name)
    _copy_weights(model, qat, graph)
    return qat


def _dense_tail(op, outputs, graph):
    """Dense's activation after its int8 logits, as LiteRT runs it."""
    name = _dense_activation(op)
    if name == "linear":
        if _quantizes_output(op, graph):
            return ActivationQuantizer(name=f"{op.name}_quant")(outputs)
        return outputs
    if name == "softmax":
        outputs = ActivationQuantizer(name=f"{op.name}_logits_quant")(outputs)
        outputs = layers.Activation("softmax", name=f"{op.name}_softmax")(
            outputs)
        return ActivationQuantizer(fixed_range=SOFTMAX_RANGE,
                                   name=f"{op.name}_quant")(outputs)
    outputs = layers.Activation(name, name=f"{op.name}_act")(outputs)
    return ActivationQuantizer(name=f"{op.name}_quant")(outputs)


def _copy_weights(model, qat, graph):
    # As NumPy copies: on JAX an assigned variable would share its array
    # with the source, and a compiled step donates (deletes) it.
    def copy(target, source):
        target.assign(keras.ops.convert_to_numpy(source))

    for layer in model.layers:
        if not layer.weights or layer.name in graph.pairs:
            continue
        target = qat.get_layer(layer.name)
        if isinstance(target, (QuantizedConv2D, QuantizedDense)):
            copy(target.kernel, layer.kernel)
            if target.use_bias:
                copy(target.bias, layer.bias)
            bn = graph.bn_of.get(layer.name)
            for name in ("gamma", "beta", "moving_mean", "moving_variance"):
                if bn is not None and getattr(target, name, None) is not None:
                    copy(getattr(target, name), getattr(bn, name))
        else:
            target.set_weights(layer.get_weights())


def _taps(model, produced, graph):
    """The model's taps in the QAT model: a folded BatchNorm's is its
    convolution's; a tapped layer's int8 output is its quantizer's
    (`produced`: layer name -> the QAT layer that gives its output)."""
    if model.taps is None:
        return None
    rename = _renamer(produced, graph)
    return {stride: rename(name) for stride, name in model.taps.items()}


def _renamer(produced, graph):
    """Layer name in the model -> the QAT layer that gives its output."""
    def rename(name):
        name = graph.pairs[name].name if name in graph.pairs else name
        return produced.get(name, name)
    return rename
