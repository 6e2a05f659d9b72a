"""Inference of a functional model on the PyTorch backend as a flat list of
PyTorch calls.

Keras runs a functional model layer by layer through `Layer.__call__`,
which on PyTorch spends Python time on every layer call (dtype policies,
masks, name scopes, structure flattening) whatever the batch: for a
network of 100-odd small layers that is most of an inference at batch 1
(docs/speed.md). A plan walks the same graph once, in the same order, and
keeps for each node one function of PyTorch tensors:

- convolutions call `conv2d` on the `channels_last` NCHW view of Keras'
  NHWC tensors (a view, no copy), with the BatchNorm that alone reads
  their output folded into kernel and bias (`folding`);
- BatchNorm, ReLU/ReLU6, hard sigmoid/swish, sigmoid, SiLU, Add,
  Multiply, global pooling, zero padding, dropout, rescaling by scalars and
  dense layers on 2D tensors are their one PyTorch function (`steps`);
- a custom layer gives its own step, as it gives its MACs: its
  `torch_step(ndim)` returns a function of the plan's tensors or None
  (`layers.LayerScale`, `layers.MultiQueryAttention`);
- any other layer or op is called as Keras would (`layer.call`, in
  inference), on NHWC views.

Folded kernels are cached and recomputed when a variable changes (a
PyTorch tensor's version counter counts its in-place writes, which is how
Keras assigns). A layer whose weights a step reads and that changed how it
computes (`quantize`, `enable_lora`, a new dtype policy) makes the plan
stale as it runs: it is made again (`Plan.__call__`). A plan is used only
where Keras' own path would give the same numbers in inference: no
gradients recorded, `training` falsy, no mask, one float32 tensor in, and
not inside `torch.compile`, tracing or export (`plan_input`).
On a GPU the plan is replayed as a CUDA graph (`graphs`).
"""

import keras

from . import graphs, steps
from .steps import Stale
from .folding import CONVS, fold_into_conv, foldable_pairs
from .torch_ops import batch_norm, conv2d, torch_weight

_ATTRIBUTE = "_km_torch_plan"


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
    """The model's plan, made on first use and kept on the model (made
    again when it finds itself stale, `Plan.__call__`)."""
    plan = model.__dict__.get(_ATTRIBUTE)
    if plan is None:
        plan = Plan(model)
        object.__setattr__(model, _ATTRIBUTE, plan)
    return plan


def _state(layer):
    """What a layer computes with, besides its weights: (dtype policy, LoRA)."""
    return layer.dtype_policy, getattr(layer, "lora_enabled", False)


class Plan:
    """The steps of one functional model; call it on an NHWC float32 tensor."""

    def __init__(self, model):
        self.model = model
        self.input_id = id(model.inputs[0])
        self.output_ids = [id(t) for t in model.outputs]
        pairs = foldable_pairs(model)
        folded = {conv.name: model.get_layer(bn) for bn, conv in pairs.items()}
        nodes = list(self._nodes())
        absorbed, conv_pads = steps.absorbed_padding(nodes, self.output_ids)
        plan = []
        for node in nodes:
            layer = node.operation
            ins = [id(t) for t in node.input_tensors]
            if id(node) in absorbed or (
                    isinstance(layer, keras.layers.BatchNormalization)
                    and layer.name in pairs):
                # The convolution that reads it pads or normalises itself.
                plan.append((steps.identity, ins, id(node.outputs[0]), node))
                continue
            if isinstance(layer, CONVS):
                fn = self._step(layer, node, folded.get(layer.name),
                                conv_pads.get(id(node), "valid"))
            else:
                fn = self._step(layer, node, None)
            if fn is None:
                plan.append((self._generic(node), None,
                             [id(t) for t in node.outputs], node))
            else:
                plan.append((fn, ins, id(node.outputs[0]), node))
        self.steps = steps.in_place(plan, self.output_ids)
        self.graphs = None  # `graphs.Graphs`, on first call on a GPU

    def _nodes(self):
        by_depth = self.model._nodes_by_depth
        for depth in sorted(by_depth, reverse=True):
            for node in by_depth[depth]:
                if node.operation is not None and not node.is_input:
                    yield node

    # -- steps ---------------------------------------------------------
    def _step(self, layer, node, bn, pad="valid"):
        """A function of the inputs' plan tensors, or None (generic)."""
        import torch
        import torch.nn.functional as F

        extra = {k for k, v in node.arguments.kwargs.items()
                 if k != "training" and not (k == "mask" and v is None)}
        if len(node.outputs) != 1 or extra:
            return None
        if not isinstance(layer, keras.layers.Layer):
            return steps.keras_op(layer, node)
        if (getattr(layer, "quantization_mode", None) is not None
                or getattr(layer, "lora_enabled", False)
                or layer.compute_dtype != "float32"):
            return None
        ndim = len(node.input_tensors[0].shape)
        if hasattr(layer, "torch_step"):  # a custom layer gives its own
            return layer.torch_step(ndim)
        if isinstance(layer, CONVS):
            return self._conv(layer, bn, pad)
        if isinstance(layer, keras.layers.BatchNormalization):
            if ndim not in (2, 4) or layer.axis not in (-1, ndim - 1):
                return None
            return self._batch_norm(layer)
        if isinstance(layer, keras.layers.ReLU):
            if layer.negative_slope or layer.threshold:
                return None
            if layer.max_value is None:
                return steps.InPlace(F.relu)
            high = float(layer.max_value)
            return steps.InPlace(
                lambda x, inplace: F.hardtanh(x, 0.0, high, inplace))
        if isinstance(layer, keras.layers.Activation):
            act = steps.activation(layer.activation, ndim)
            return steps.identity if act is None else (act or None)
        if isinstance(layer, (keras.layers.Add, keras.layers.Multiply)):
            full = [tuple(t.shape[1:]) == tuple(node.outputs[0].shape[1:])
                    for t in node.input_tensors]
            return steps.merge(isinstance(layer, keras.layers.Add), full)
        if isinstance(layer, (keras.layers.Dropout, keras.layers.SpatialDropout2D)):
            return steps.identity
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
        if (isinstance(layer, keras.layers.Normalization) and ndim == 4
                and layer.input_mean is not None and not layer.invert
                and tuple(layer._keep_axis) == (3,)):
            return self._normalization(layer)
        if isinstance(layer, keras.layers.Flatten) and all(
                d == 1 for d in node.input_tensors[0].shape[1:-1]):
            return steps.view(lambda x: torch.flatten(x, 1))
        if isinstance(layer, keras.layers.Dense) and ndim == 2:
            act = steps.activation(layer.activation, ndim)
            if act is False:
                return None
            return self._dense(layer, act)
        return None

    @staticmethod
    def _weights(layers, variables, make):
        """A function giving `make(*values)` of `variables` (None stays
        None), made again only when a variable was written; it raises
        `Stale` where one of `layers` changed how it computes."""
        states = [(layer, *_state(layer)) for layer in layers]
        hit = [None, None]

        def weights():
            for layer, policy, lora in states:
                now_policy, now_lora = _state(layer)
                if now_policy is not policy or now_lora != lora:
                    raise Stale(layer.name)
            values = [None if v is None else v.value for v in variables]
            try:
                stamp = tuple((t.data_ptr(), t._version)
                              for t in values if t is not None)
            except RuntimeError:  # inference tensors count no versions
                stamp = None
            if hit[1] is None or stamp is None or hit[0] != stamp:
                import torch

                with torch.no_grad():
                    hit[:] = stamp, make(*values)
            return hit[1]
        return weights

    def _conv(self, layer, bn, valid_pad):
        act = steps.activation(layer.activation, 4)
        if (act is False or layer.data_format != "channels_last"
                or layer.padding not in ("same", "valid")):
            return None
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        groups = 1 if depthwise else layer.groups
        strides, dilation = tuple(layer.strides), tuple(layer.dilation_rate)
        padding = "same" if layer.padding == "same" else valid_pad
        variables = [layer.kernel, layer.bias]
        if bn is not None:
            variables += [bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance]

        def make(kernel, bias, *statistics):
            if bn is not None:  # folded in float64
                kernel, bias = fold_into_conv(
                    *(None if t is None else t.double()
                      for t in (kernel, bias, *statistics)),
                    bn.epsilon, depthwise)
                kernel, bias = kernel.float(), bias.float()
            return torch_weight(kernel, depthwise).contiguous(), bias

        weights = self._weights([layer] + ([bn] if bn is not None else []),
                                variables, make)

        def run(x):
            weight, bias = weights()
            out = conv2d(x, weight, bias, strides, padding, dilation,
                         x.shape[1] if depthwise else groups)
            return out if act is None else act(out, inplace=True)
        return run

    def _batch_norm(self, layer):
        weights = self._weights(
            [layer], [layer.gamma, layer.beta, layer.moving_mean,
                      layer.moving_variance], lambda *values: values)

        def run(x):
            gamma, beta, mean, variance = weights()
            return batch_norm(x, mean, variance, gamma, beta, layer.epsilon)
        return run

    @staticmethod
    def _normalization(layer):
        """Keras' `(x - mean) / maximum(sqrt(variance), epsilon)` with the
        constants given to the layer made once per device (a new tensor
        from a Python number would be a host copy, which a CUDA graph
        cannot record)."""
        import torch

        made = {}

        def run(x):
            if made.get("device") != x.device:
                def nchw(t):
                    t = keras.ops.convert_to_tensor(t, dtype="float32")
                    return t.to(x.device).reshape(1, -1, 1, 1)
                mean, variance = nchw(layer.mean), nchw(layer.variance)
                epsilon = torch.tensor(keras.backend.epsilon(), dtype=torch.float32,
                                       device=x.device)
                made.update(device=x.device, mean=mean,
                            denominator=torch.maximum(torch.sqrt(variance), epsilon))
            return (x - made["mean"]) / made["denominator"]
        return run

    def _dense(self, layer, act):
        import torch.nn.functional as F

        weights = self._weights([layer], [layer.kernel, layer.bias],
                                lambda kernel, bias: (kernel.t(), bias))

        def run(x):
            kernel, bias = weights()
            out = F.linear(x, kernel, bias)
            if isinstance(act, steps.InPlace):
                return act(out, inplace=True)
            return out if act is None else act(out)
        return run

    def _generic(self, node):
        """Keras' own call of the node's layer or op, on NHWC tensors."""
        operation = node.operation
        inference = getattr(operation, "_call_has_training_arg", False)

        def run(values):
            # A quantized layer computes in `quantized_call`, which only its
            # `__call__` dispatches to.
            quantized = getattr(operation, "quantization_mode", None) is not None
            call = operation if quantized else getattr(operation, "call", operation)
            args, kwargs = node.arguments.fill_in(values)
            args, kwargs = keras.tree.map_structure(steps.nhwc_any, (args, kwargs))
            if inference:
                kwargs["training"] = False
            return keras.tree.flatten(call(*args, **kwargs))
        return run

    # -- running -------------------------------------------------------
    def __call__(self, inputs):
        try:
            if inputs.is_cuda:
                if self.graphs is None:
                    self.graphs = graphs.Graphs(self)
                return self.graphs(inputs)
            return self.run(inputs)
        except Stale:
            self.model.__dict__.pop(_ATTRIBUTE, None)
            return plan_of(self.model).run(inputs)

    def run(self, inputs):
        values = {self.input_id: steps.nchw(inputs)}
        for fn, inputs_of, output, _ in self.steps:
            if inputs_of is None:
                for key, value in zip(output, fn(values)):
                    values[key] = steps.nchw(value)
            else:
                values[output] = fn(*[values[i] for i in inputs_of])
        outputs = [steps.nhwc(values[i]).contiguous() for i in self.output_ids]
        return keras.tree.pack_sequence_as(self.model._outputs_struct, outputs)
