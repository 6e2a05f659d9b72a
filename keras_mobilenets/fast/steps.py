"""The PyTorch functions a plan (`fast.plan`) runs for activations, merges,
Keras ops, layer scale and attention (the custom layers' `torch_step`),
and the plan-wide rewrites: which steps may work in
place, which zero paddings a convolution absorbs."""

import keras

from .folding import CONVS

_ELEMENTWISE = {  # Keras activation name -> torch.nn.functional name
    "relu": "relu", "relu6": "relu6", "hard_sigmoid": "hardsigmoid",
    "hard_silu": "hardswish", "hard_swish": "hardswish", "silu": "silu",
    "swish": "silu",
}


class Stale(Exception):
    """A layer a plan computes with changed how it computes."""


def nchw(t):
    return t.permute(0, 3, 1, 2) if t.ndim == 4 else t


def nhwc(t):
    return t.permute(0, 2, 3, 1) if t.ndim == 4 else t


def nhwc_any(value):
    import torch

    return nhwc(value) if isinstance(value, torch.Tensor) else value


def identity(x):
    return x


def view(fn):
    """`fn`, marked as returning a view of its input (never written in place)."""
    fn.fresh = False
    return fn


class InPlace:
    """An elementwise step that may overwrite its first input, which the
    plan allows where no other step reads it (`in_place`)."""

    def __init__(self, fn):
        self.fn = fn
        self.inplace = False

    def __call__(self, *xs, inplace=None):
        return self.fn(*xs, inplace=self.inplace if inplace is None else inplace)

    def bound(self, inplace):
        step = InPlace(self.fn)
        step.inplace = inplace
        return step


def activation(fn, ndim):
    """torch function of a Keras activation on a tensor of `ndim`
    dimensions, None for the identity, False where there is none here."""
    import torch.nn.functional as F

    name = getattr(fn, "__name__", None)
    if fn is None or name == "linear":
        return None
    if name == "softmax" and ndim == 2:
        return lambda x: F.softmax(x, dim=-1)
    if name in _ELEMENTWISE:  # each takes `inplace`
        return InPlace(getattr(F, _ELEMENTWISE[name]))
    if name == "sigmoid":  # F.sigmoid takes no `inplace`
        return InPlace(lambda x, inplace: x.sigmoid_() if inplace else x.sigmoid())
    return False


def merge(add, full):
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
    step = InPlace(fn)
    step.full = full
    return step


def keras_op(op, node):
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


def channel_scale(gamma):
    """`layers.LayerScale` on plan tensors (channels on axis 1): each
    channel times the variable `gamma`, read at every call."""
    def fn(x):
        return x * gamma.value.reshape((1, -1) + (1,) * (x.ndim - 2))
    return fn


def attention(heads):
    """`layers.MultiQueryAttention` on plan tensors: PyTorch's fused
    scaled dot-product attention, every query head over the one key and
    value head."""
    import torch.nn.functional as F

    def fn(query, key, value):
        query, key, value = nhwc(query), nhwc(key), nhwc(value)
        batch, rows, cols, channels = query.shape
        key_dim, value_dim = key.shape[-1], value.shape[-1]
        q = query.reshape(batch, rows * cols, heads, key_dim).transpose(1, 2)
        k = key.reshape(batch, 1, -1, key_dim).expand(-1, heads, -1, -1)
        v = value.reshape(batch, 1, -1, value_dim).expand(-1, heads, -1, -1)
        out = F.scaled_dot_product_attention(q, k, v, scale=key_dim ** -0.5)
        out = out.transpose(1, 2).reshape(batch, rows, cols, heads * value_dim)
        return nchw(out)
    return fn


def in_place(steps, output_ids):
    """The steps, each `InPlace` one bound to overwrite its first input
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
        if fn is identity:
            if free_first:
                fresh.add(out)
        elif isinstance(fn, InPlace):
            fn = fn.bound(free_first)
            fresh.add(out)
        elif ins is not None and getattr(fn, "fresh", True):
            fresh.add(out)
        bound.append((fn, ins, out, node))
    return bound


def absorbed_padding(nodes, output_ids):
    """ZeroPadding2D nodes whose only reader is a 'valid' convolution
    (MobileNetV4's, as timm pads; keras.applications' `correct_pad`, one
    zero more after): that convolution pads itself (`torch_ops.conv2d`:
    PyTorch's `padding`, or a depthwise kernel's added zero tap), saving a
    copy of the feature map where it can. Returns (ids
    of those nodes, {id of the convolution's node: ((top, bottom), (left,
    right)) padding})."""
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
        if not (isinstance(layer, CONVS) and layer.padding == "valid"
                and len(node.input_tensors) == 1):
            continue
        source = producer.get(id(node.input_tensors[0]))
        pad = source.operation if source is not None else None
        if (isinstance(pad, keras.layers.ZeroPadding2D)
                and pad.data_format == "channels_last"
                and readers.get(id(node.input_tensors[0])) == 1):
            absorbed.add(id(source))
            pads[id(node)] = tuple(map(tuple, pad.padding))
    return absorbed, pads
