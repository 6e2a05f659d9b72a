"""PyTorch kernels of the fast layers and of the inference plan, each rule
written once: Keras' kernel layout as PyTorch's, 'same' padding as PyTorch
pads (through the taps that read the map), inference BatchNorm in one
fused pass.

Keras' PyTorch backend makes every NHWC input and output contiguous in
NCHW around `conv2d`, two full copies per layer. A permuted view of an
NHWC tensor is an NCHW tensor in PyTorch's `channels_last` memory format,
which oneDNN convolves as is and returns in the same format, so permuting
back is a view too: the `*_nhwc` functions work on such views.
"""

import functools

from .shifted import live_window


def torch_weight(kernel, depthwise):
    """A Keras convolution kernel as PyTorch's `conv2d` weight.

    Keras: `(rows, cols, in / groups, out)`, depthwise `(rows, cols,
    channels, multiplier)`; PyTorch: `(out, in / groups, rows, cols)`, the
    depthwise output channel `c * multiplier + m` as in Keras.
    """
    if depthwise:
        kh, kw, channels, multiplier = kernel.shape
        return kernel.permute(2, 3, 0, 1).reshape(
            channels * multiplier, 1, kh, kw)
    return kernel.permute(3, 2, 0, 1)


def conv2d(x, weight, bias, strides, padding, dilation=(1, 1), groups=1):
    """`F.conv2d` of an NCHW tensor through the taps that read it
    (`live_window`); `padding` is "same" (Keras' rule), "valid", or
    ((top, bottom), (left, right)) zeros, as Keras' ZeroPadding2D takes
    them. Padding is PyTorch's own where it gives the same outputs (for a
    depthwise kernel with one zero tap added: `_geometry`), else an
    explicit pad (or crop) first."""
    import torch.nn.functional as F

    taps, pads, padding, dilation, grow = _geometry(
        tuple(x.shape[2:]), tuple(weight.shape[2:]), tuple(strides), padding,
        tuple(dilation), groups > 1)
    if taps is not None:
        weight = weight[:, :, taps[0], taps[1]]
    if grow is not None:
        (top, bottom), (left, right) = grow
        rows, cols = weight.shape[2:]
        grown = weight.new_zeros((*weight.shape[:2], top + rows + bottom,
                                  left + cols + right))
        grown[:, :, top:top + rows, left:left + cols] = weight
        weight = grown
    if padding is None:
        x = F.pad(x, pads)
        padding = 0
    return F.conv2d(x, weight, bias, strides, padding, dilation, groups)


@functools.lru_cache(maxsize=4096)
def _geometry(size, kernel, strides, padding, dilation, grouped):
    """How `conv2d` convolves: (the rows and columns of the kernel's live
    taps as slices, or None for all; F.pad's explicit pads; PyTorch's own
    padding, or None where the explicit pads go first; the dilation; zero
    taps to add to the kernel ((top, bottom), (left, right)), or None). The
    same for every call of a shape: worked out once.

    Padding one zero more on one side than the other (keras.applications'
    `correct_pad` before a stride-2 depthwise convolution, 'same' padding
    of an even map at stride 2) is, for a `grouped` (depthwise)
    convolution, PyTorch's own symmetric padding of the larger side with a
    zero tap added to the kernel on the smaller side: each output reads the
    same values, and no padded copy of the input is made (the copy took
    most of such a convolution's time: docs/speed.md). A full convolution
    would pay for the larger kernel in multiplications more than the copy
    saves, and keeps the copy."""
    ((r0, r1), (c0, c1)), ((top, bottom), (left, right)) = live_window(
        size, kernel, strides, padding, dilation)
    cut = (r1 - r0 + 1, c1 - c0 + 1)
    taps = None if cut == kernel else (slice(r0, r1 + 1), slice(c0, c1 + 1))
    if cut == (1, 1):
        dilation = (1, 1)  # a lone tap: oneDNN's plain 1x1 kernel
    axes = ((top, bottom), (left, right))
    torch_padding = tuple(
        _symmetric(size[a], (cut[a] - 1) * dilation[a] + 1, strides[a], *pads)
        for a, pads in enumerate(axes))
    grow = None
    if grouped and None in torch_padding and all(
            p is not None or (dilation[a] == 1 and min(axes[a]) >= 0
                              and abs(axes[a][0] - axes[a][1]) == 1)
            for a, p in enumerate(torch_padding)):
        grow = tuple((0, 0) if p is not None else
                     (int(before < after), int(after < before))
                     for p, (before, after) in zip(torch_padding, axes))
        torch_padding = tuple(p if p is not None else max(axes[a])
                              for a, p in enumerate(torch_padding))
    return (taps, (left, right, top, bottom),
            None if None in torch_padding else torch_padding, dilation, grow)


def _symmetric(size, span, stride, before, after):
    """PyTorch's own padding of one axis (the same zeros on both sides) that
    gives a correlation of `span` and `stride` the output of (before,
    after) zeros, or None. A strided 'valid' convolution of an explicitly
    padded map (MobileNetV4's ZeroPadding2D(1) and a 3x3 stride-2 kernel on
    an even size) never reads its last zero row: `live_window` leaves it
    out, PyTorch's symmetric padding may keep it; an explicit pad is a copy
    of the whole input (a quarter of a V4 Conv-S inference: docs/speed.md)."""
    if (0 <= after <= before and (size + 2 * before - span) // stride
            == (size + before + after - span) // stride):
        return before
    return None


def conv_nhwc(x, kernel, bias, strides, padding, depthwise,
              dilation=(1, 1)):
    """A Keras convolution ("same" or "valid" padding) of an NHWC torch
    tensor without layout copies."""
    groups = kernel.shape[2] if depthwise else 1
    return conv2d(x.permute(0, 3, 1, 2), torch_weight(kernel, depthwise), bias,
                  tuple(strides), padding, tuple(dilation),
                  groups=groups).permute(0, 2, 3, 1)


def batch_norm(x, mean, variance, gamma, beta, epsilon):
    """Inference BatchNorm over axis 1 in one fused pass (Keras' PyTorch
    backend makes four elementwise passes)."""
    import torch.nn.functional as F

    return F.batch_norm(x, mean, variance, gamma, beta, False, 0.0, epsilon)


def batch_norm_nhwc(x, mean, variance, gamma, beta, epsilon):
    """`batch_norm` of an NHWC tensor over its last axis, on its
    channels_last NCHW view: no copy either way."""
    out = batch_norm(x.permute(0, 3, 1, 2), mean, variance, gamma, beta,
                     epsilon)
    return out.permute(0, 2, 3, 1)


def batch_norm_train_nhwc(x, gamma, beta, epsilon):
    """Training BatchNorm of an NHWC torch tensor: normalised by the batch's
    mean and (biased) variance over all but the last axis, in PyTorch's
    fused kernels forward and backward (Keras' PyTorch backend computes the
    moments and the normalisation in a dozen elementwise and reduction
    passes, each with its own gradient: half of a MobileNetV4 training
    step). Returns (outputs, batch mean, batch biased variance), the
    statistics without gradient, for the caller's moving averages."""
    import torch
    import torch.nn.functional as F

    channels = x.shape[-1]
    # With momentum 1 PyTorch writes the batch's statistics into the running
    # buffers (zeros times zero, plus one times each): its mean and its
    # unbiased variance, which n - 1 over n turns into Keras' biased one.
    mean = torch.zeros(channels, dtype=x.dtype, device=x.device)
    variance = torch.zeros(channels, dtype=x.dtype, device=x.device)
    out = F.batch_norm(x.permute(0, 3, 1, 2), mean, variance, gamma, beta,
                       True, 1.0, epsilon)
    n = x.numel() // channels
    return out.permute(0, 2, 3, 1), mean, variance * ((n - 1) / n)
