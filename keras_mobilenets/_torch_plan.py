"""Inference of a functional model on the PyTorch backend as a flat list of
PyTorch calls.

Keras runs a functional model layer by layer through `Layer.__call__`,
which on PyTorch costs about half a millisecond per layer in Python
(dtype policies, masks, name scopes, structure flattening): 60-80 ms per
call for MobileNetV4-Conv-S's 143 layers whatever the batch, 4x timm at
batch 1. A plan walks the same graph once, in the same order, and keeps
for each node one function of PyTorch tensors:

- convolutions call `conv2d` on the `channels_last` NCHW view of Keras'
  NHWC tensors (a view, no copy), with the BatchNorm that alone reads
  their output folded into kernel and bias (`_graph.foldable_pairs`);
- BatchNorm, ReLU/ReLU6, hard sigmoid/swish, sigmoid, SiLU, Add,
  Multiply, global pooling, zero padding, dropout, rescaling by scalars and
  dense layers on 2D tensors are their one PyTorch function;
- any other layer or op is called as Keras would (`layer.call`, in
  inference), on NHWC views.

Folded kernels are cached and recomputed when a variable changes (a
PyTorch tensor's version counter counts its in-place writes, which is how
Keras assigns). A plan is used only where Keras' own path would give the
same numbers in inference: no gradients recorded, `training` falsy, no
mask, one float32 tensor in, and not inside `torch.compile`, tracing or
export (`plan_input`).
"""

import keras

from . import _kernels
from ._graph import foldable_pairs
from .layers import LayerScale, MultiQueryAttention

_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)

_ELEMENTWISE = {  # Keras activation name -> torch.nn.functional name
    "relu": "relu", "relu6": "relu6", "hard_sigmoid": "hardsigmoid",
    "hard_silu": "hardswish", "hard_swish": "hardswish", "silu": "silu",
    "swish": "silu",
}


def plan_input(model, inputs, training, mask, kwargs):
    """The tensor `model.call(inputs, ...)` may run its plan on (converted
    as Keras converts a functional model's input: to the input's dtype), or
    None where Keras' own call must run."""
    if keras.backend.backend() != "torch" or training or mask is not None or kwargs:
        return None
    import torch

    if (torch.is_grad_enabled() or torch.compiler.is_compiling()
            or torch.jit.is_tracing() or len(model.inputs) != 1
            or model.compute_dtype != "float32"
            or model.inputs[0].dtype != "float32"
            or keras.config.image_data_format() != "channels_last"):
        return None
    if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
        inputs = inputs[0]
    if isinstance(inputs, (list, tuple, dict)) or not hasattr(inputs, "shape"):
        return None
    if len(inputs.shape) != 4:
        return None
    tensor = keras.ops.convert_to_tensor(inputs, dtype="float32")
    # Keras infers output shapes by calling on "meta" tensors: its own call.
    return None if tensor.device.type == "meta" else tensor


def plan_of(model):
    """The model's plan, made on first use and kept on the model; made
    again when a layer's dtype policy or LoRA changed (`model.quantize`,
    `enable_lora` rebuild layers' variables in place)."""
    stamp = _layers_stamp(model)
    plan = model.__dict__.get("_km_torch_plan")
    if plan is None or plan.stamp != stamp:
        plan = Plan(model)
        plan.stamp = stamp
        object.__setattr__(model, "_km_torch_plan", plan)
    return plan


def _layers_stamp(model):
    return tuple((id(layer.dtype_policy), getattr(layer, "lora_enabled", False))
                 for layer in model._flatten_layers(include_self=False))


def _nchw(t):
    return t.permute(0, 3, 1, 2) if t.ndim == 4 else t


def _nhwc(t):
    return t.permute(0, 2, 3, 1) if t.ndim == 4 else t


def _activation(fn, ndim):
    """torch function of a Keras activation on a tensor of `ndim`
    dimensions, None for the identity, False where there is none here."""
    import torch.nn.functional as F

    name = getattr(fn, "__name__", None)
    if fn is None or name == "linear":
        return None
    if name == "softmax" and ndim == 2:
        return lambda x: F.softmax(x, dim=-1)
    if name in _ELEMENTWISE:  # each takes `inplace`
        return _InPlace(getattr(F, _ELEMENTWISE[name]))
    if name == "sigmoid":  # F.sigmoid takes no `inplace`
        return _InPlace(lambda x, inplace: x.sigmoid_() if inplace else x.sigmoid())
    return False


class Plan:
    """The steps of one functional model; call it on an NHWC float32 tensor."""

    def __init__(self, model):
        self.model = model
        self.input_id = id(model.inputs[0])
        self.output_ids = [id(t) for t in model.outputs]
        pairs = foldable_pairs(model)
        folded = {conv.name: model.get_layer(bn) for bn, conv in pairs.items()}
        self.cache = {}
        nodes = list(self._nodes())
        absorbed, conv_pads = _absorbed_padding(nodes, self.output_ids)
        steps = []
        for node in nodes:
            layer = node.operation
            ins = [id(t) for t in node.input_tensors]
            if id(node) in absorbed or (
                    isinstance(layer, keras.layers.BatchNormalization)
                    and layer.name in pairs):
                # The convolution that reads it pads or normalises itself.
                steps.append((_IDENTITY, ins, id(node.outputs[0]), node))
                continue
            if isinstance(layer, _CONVS):
                fn = self._step(layer, node, folded.get(layer.name),
                                conv_pads.get(id(node), 0))
            else:
                fn = self._step(layer, node, None)
            if fn is None:
                steps.append((self._generic(node), None,
                              [id(t) for t in node.outputs], node))
            else:
                steps.append((fn, ins, id(node.outputs[0]), node))
        self.steps = _in_place(steps, self.output_ids)

    def _nodes(self):
        by_depth = self.model._nodes_by_depth
        for depth in sorted(by_depth, reverse=True):
            for node in by_depth[depth]:
                if node.operation is not None and not node.is_input:
                    yield node

    # -- steps ---------------------------------------------------------
    def _step(self, layer, node, bn, pad=0):
        """A function of the inputs' plan tensors, or None (generic)."""
        import torch
        import torch.nn.functional as F

        extra = {k for k, v in node.arguments.kwargs.items()
                 if k != "training" and not (k == "mask" and v is None)}
        if len(node.outputs) != 1 or extra:
            return None
        if not isinstance(layer, keras.layers.Layer):
            return _op(layer, node)
        if (getattr(layer, "quantization_mode", None) is not None
                or getattr(layer, "lora_enabled", False)
                or layer.compute_dtype != "float32"):
            return None
        ndim = len(node.input_tensors[0].shape)
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            return self._conv(layer, bn, pad)
        if isinstance(layer, keras.layers.BatchNormalization):
            if ndim not in (2, 4) or layer.axis not in (-1, ndim - 1):
                return None
            return self._batch_norm(layer)
        if isinstance(layer, keras.layers.ReLU):
            if layer.negative_slope or layer.threshold:
                return None
            if layer.max_value is None:
                return _InPlace(F.relu)
            high = float(layer.max_value)
            return _InPlace(lambda x, inplace: F.hardtanh(x, 0.0, high, inplace))
        if isinstance(layer, keras.layers.Activation):
            act = _activation(layer.activation, ndim)
            return _IDENTITY if act is None else (act or None)
        if isinstance(layer, (keras.layers.Add, keras.layers.Multiply)):
            full = [tuple(t.shape[1:]) == tuple(node.outputs[0].shape[1:])
                    for t in node.input_tensors]
            return _merge(isinstance(layer, keras.layers.Add), full)
        if isinstance(layer, (keras.layers.Dropout, keras.layers.SpatialDropout2D)):
            return _IDENTITY
        if (isinstance(layer, keras.layers.GlobalAveragePooling2D)
                and layer.data_format == "channels_last"):
            keep = layer.keepdims
            return lambda x: torch.mean(x, (2, 3), keepdim=keep)
        if (isinstance(layer, keras.layers.ZeroPadding2D)
                and layer.data_format == "channels_last"):
            (top, bottom), (left, right) = layer.padding
            return lambda x: F.pad(x, (left, right, top, bottom))
        if (isinstance(layer, keras.layers.Rescaling)
                and isinstance(layer.scale, (int, float))
                and isinstance(layer.offset, (int, float))):
            scale, offset = float(layer.scale), float(layer.offset)
            return lambda x: x * scale + offset
        if isinstance(layer, keras.layers.Flatten) and all(
                d == 1 for d in node.input_tensors[0].shape[1:-1]):
            return _view(lambda x: torch.flatten(x, 1))
        if isinstance(layer, LayerScale) and layer.axis in (-1, ndim - 1):
            def scale(x):
                gamma = layer.gamma.value
                return x * gamma.reshape((1, -1) + (1,) * (x.ndim - 2))
            return scale
        if (isinstance(layer, MultiQueryAttention)
                and layer.data_format == "channels_last"):
            return _attention(layer.num_heads)
        if isinstance(layer, keras.layers.Dense) and ndim == 2:
            act = _activation(layer.activation, ndim)
            if act is False:
                return None
            return self._dense(layer, act)
        return None

    def _weights(self, key, variables, make):
        """`make(*values)`, recomputed only when a variable was written."""
        values = [v.value for v in variables]
        try:
            stamp = tuple((t.data_ptr(), t._version) for t in values)
        except RuntimeError:  # inference tensors count no versions
            stamp = None
        hit = self.cache.get(key)
        if hit is None or stamp is None or hit[0] != stamp:
            import torch

            with torch.no_grad():
                hit = self.cache[key] = (stamp, make(*values))
        return hit[1]

    def _conv(self, layer, bn, valid_pad):
        import torch.nn.functional as F

        act = _activation(layer.activation, 4)
        if (act is False or layer.data_format != "channels_last"
                or layer.padding not in ("same", "valid")):
            return None
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        groups = 1 if depthwise else layer.groups
        strides, dilation = tuple(layer.strides), tuple(layer.dilation_rate)
        kh, kw = layer.kernel_size
        variables = [layer.kernel] + ([layer.bias] if layer.use_bias else [])
        if bn is not None:
            variables += [v for v in (bn.gamma, bn.beta) if v is not None]
            variables += [bn.moving_mean, bn.moving_variance]

        def make(kernel, *rest):
            if depthwise:
                channels, multiplier = kernel.shape[2], kernel.shape[3]
                weight = kernel.permute(2, 3, 0, 1).reshape(
                    channels * multiplier, 1, kh, kw)
            else:
                weight = kernel.permute(3, 2, 0, 1)
            rest = list(rest)
            bias = rest.pop(0) if layer.use_bias else None
            if bn is None:
                return weight.contiguous(), bias
            gamma = rest.pop(0).double() if bn.scale else 1.0
            beta = rest.pop(0).double() if bn.center else 0.0
            mean, variance = rest[0].double(), rest[1].double()
            scale = gamma / (variance + bn.epsilon).sqrt()
            shift = (0.0 if bias is None else bias.double()) - mean
            weight = weight.double() * scale.reshape(-1, 1, 1, 1)
            return (weight.float().contiguous(),
                    (shift * scale + beta).float())

        key = layer.name

        def run(x):
            weight, bias = self._weights(key, variables, make)
            pad = valid_pad
            if layer.padding == "same":
                rows, cols = x.shape[2], x.shape[3]
                top, bottom = _kernels.same_padding(
                    rows, (kh - 1) * dilation[0] + 1, strides[0])
                left, right = _kernels.same_padding(
                    cols, (kw - 1) * dilation[1] + 1, strides[1])
                if (top, left) == (bottom, right):
                    pad = (top, left)
                else:
                    x = F.pad(x, (left, right, top, bottom))
            groups_ = x.shape[1] if depthwise else groups
            out = F.conv2d(x, weight, bias, strides, pad, dilation, groups_)
            return out if act is None else act(out, inplace=True)
        return run

    def _batch_norm(self, layer):
        import torch.nn.functional as F

        variables = [v for v in (layer.gamma, layer.beta) if v is not None]
        variables += [layer.moving_mean, layer.moving_variance]

        def make(*values):
            values = list(values)
            gamma = values.pop(0) if layer.scale else None
            beta = values.pop(0) if layer.center else None
            return gamma, beta, values[0], values[1]

        def run(x):
            gamma, beta, mean, variance = self._weights(layer.name, variables, make)
            return F.batch_norm(x, mean, variance, gamma, beta, False, 0.0,
                                layer.epsilon)
        return run

    def _dense(self, layer, act):
        import torch.nn.functional as F

        variables = [layer.kernel] + ([layer.bias] if layer.use_bias else [])

        def run(x):
            kernel, *bias = self._weights(
                layer.name, variables, lambda k, *b: (k.t(), *b))
            out = F.linear(x, kernel, bias[0] if bias else None)
            if isinstance(act, _InPlace):
                return act(out, inplace=True)
            return out if act is None else act(out)
        return run

    def _generic(self, node):
        """Keras' own call of the node's layer or op, on NHWC tensors."""
        operation = node.operation
        # A quantized layer computes in `quantized_call`, which only its
        # `__call__` dispatches to.
        quantized = getattr(operation, "quantization_mode", None) is not None
        call = operation if quantized else getattr(operation, "call", operation)
        inference = getattr(operation, "_call_has_training_arg", False)

        def run(values):
            args, kwargs = node.arguments.fill_in(values)
            args, kwargs = keras.tree.map_structure(_nhwc_any, (args, kwargs))
            if inference:
                kwargs["training"] = False
            return keras.tree.flatten(call(*args, **kwargs))
        return run

    # -- running -------------------------------------------------------
    def __call__(self, inputs):
        values = {self.input_id: _nchw(inputs)}
        for fn, inputs_of, output, _ in self.steps:
            if inputs_of is None:
                for key, value in zip(output, fn(values)):
                    values[key] = _nchw(value)
            else:
                values[output] = fn(*[values[i] for i in inputs_of])
        outputs = [_nhwc(values[i]).contiguous() for i in self.output_ids]
        return keras.tree.pack_sequence_as(self.model._outputs_struct, outputs)


def _op(op, node):
    """The torch function of a Keras op between same-rank tensors and
    Python numbers (keras.applications' hard sigmoid is `x + 3.0` and
    `* (1 / 6)`), or None."""
    import torch

    functions = {"Add": torch.add, "Subtract": torch.sub,
                 "Multiply": torch.mul, "TrueDivide": torch.div}
    fn = functions.get(type(op).__name__)
    if fn is None or type(op).__module__ != "keras.src.ops.numpy":
        return None
    args = node.arguments.args
    if node.arguments.kwargs or len(args) != 2:
        return None
    tensors = [a for a in args if isinstance(a, keras.KerasTensor)]
    if (len({len(t.shape) for t in tensors}) != 1
            or any(a not in tensors and not isinstance(a, (int, float))
                   for a in args)
            or any(t.dtype != "float32" for t in tensors)):
        return None
    if len(tensors) == 2:
        return fn
    number = next(a for a in args if a not in tensors)
    if args[0] is number:
        return lambda x: fn(number, x)
    return lambda x: fn(x, number)


def _nhwc_any(value):
    import torch

    return _nhwc(value) if isinstance(value, torch.Tensor) else value


def _attention(heads):
    """`layers.MultiQueryAttention` on plan tensors: PyTorch's fused
    scaled dot-product attention, every query head over the one key and
    value head."""
    import torch.nn.functional as F

    def fn(query, key, value):
        query, key, value = _nhwc(query), _nhwc(key), _nhwc(value)
        batch, rows, cols, channels = query.shape
        key_dim, value_dim = key.shape[-1], value.shape[-1]
        q = query.reshape(batch, rows * cols, heads, key_dim).transpose(1, 2)
        k = key.reshape(batch, 1, -1, key_dim).expand(-1, heads, -1, -1)
        v = value.reshape(batch, 1, -1, value_dim).expand(-1, heads, -1, -1)
        out = F.scaled_dot_product_attention(q, k, v, scale=key_dim ** -0.5)
        out = out.transpose(1, 2).reshape(batch, rows, cols, heads * value_dim)
        return _nchw(out)
    return fn


def _view(fn):
    fn.fresh = False
    return fn


def _IDENTITY(x):
    return x


class _InPlace:
    """An elementwise step that may overwrite its first input, which the
    plan allows where no other step reads it (`_in_place`)."""

    def __init__(self, fn):
        self.fn = fn
        self.inplace = False

    def __call__(self, *xs, inplace=None):
        return self.fn(*xs, inplace=self.inplace if inplace is None else inplace)

    def bound(self, inplace):
        step = _InPlace(self.fn)
        step.inplace = inplace
        return step


def _merge(add, full):
    """Add or Multiply of same-layout tensors (`full`: which have the
    output's shape); in place into the first where the plan allows."""
    def fn(*xs, inplace):
        first, second = xs[0], xs[1]
        if inplace:
            out = first.add_(second) if add else first.mul_(second)
        else:
            out = first + second if add else first * second
        for x in xs[2:]:
            out = out.add_(x) if add else out.mul_(x)
        return out
    step = _InPlace(fn)
    step.full = full
    return step


def _in_place(steps, output_ids):
    """The steps, each `_InPlace` one bound to overwrite its first input
    where that input is a tensor a step of the plan made (not the model's
    input, not a view or a generic step's result, which may alias another
    tensor) and nothing else reads it. Add and Multiply of two tensors take
    the free one first (the sum or product is the same either way)."""
    readers = {}
    for fn, ins, out, node in steps:
        for i in (ins if ins is not None else [id(t) for t in node.input_tensors]):
            readers[i] = readers.get(i, 0) + 1
    for i in output_ids:
        readers[i] = readers.get(i, 0) + 1
    fresh, bound = set(), []

    def free(i):
        return i in fresh and readers.get(i) == 1

    for fn, ins, out, node in steps:
        full = getattr(fn, "full", None)
        if full is None:
            free_first = ins is not None and free(ins[0])
        else:  # Add, Multiply: only into an input of the output's shape
            usable = [f and free(i) for f, i in zip(full, ins)]
            if len(ins) == 2 and usable[1] and not usable[0]:
                ins = [ins[1], ins[0]]
                usable = usable[::-1]
            free_first = usable[0]
        if fn is _IDENTITY:
            if free_first:
                fresh.add(out)
        elif isinstance(fn, _InPlace):
            fn = fn.bound(free_first)
            fresh.add(out)
        elif ins is not None and getattr(fn, "fresh", True):
            fresh.add(out)
        bound.append((fn, ins, out, node))
    return bound


def _absorbed_padding(nodes, output_ids):
    """ZeroPadding2D nodes whose only reader is a 'valid' convolution and
    whose padding is the same on both sides of each axis (MobileNetV4's,
    as timm pads): that convolution pads itself (PyTorch's `padding`),
    saving a copy of the feature map. Returns (ids of those nodes,
    {id of the convolution's node: (rows, cols) padding})."""
    readers, producer = {}, {}
    for node in nodes:
        for t in node.input_tensors:
            readers[id(t)] = readers.get(id(t), 0) + 1
        for t in node.outputs:
            producer[id(t)] = node
    for i in output_ids:
        readers[i] = readers.get(i, 0) + 1
    absorbed, pads = set(), {}
    for node in nodes:
        layer = node.operation
        if not (isinstance(layer, _CONVS) and layer.padding == "valid"
                and len(node.input_tensors) == 1):
            continue
        source = producer.get(id(node.input_tensors[0]))
        pad = source.operation if source is not None else None
        if (isinstance(pad, keras.layers.ZeroPadding2D)
                and pad.data_format == "channels_last"
                and readers.get(id(node.input_tensors[0])) == 1):
            (top, bottom), (left, right) = pad.padding
            if top == bottom and left == right:
                absorbed.add(id(source))
                pads[id(node)] = (top, left)
    return absorbed, pads
