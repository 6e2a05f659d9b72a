"""Kernels for the backends whose own are slow on CPU.

Used by `layers.Conv2D`, `layers.DepthwiseConv2D` and
`layers.BatchNormalization`, which decide per call (backend, device,
arguments) whether one of these applies.
"""

from keras import ops


def same_padding(size, kernel_size, stride):
    """(before, after) zeros of 'same' padding along one axis (TensorFlow's
    rule, which Keras follows on every backend: the odd zero goes after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def depthwise_shifted(x, kernel, strides, padding):
    """Depthwise convolution of an NHWC tensor as a sum of shifted products.

    XLA's CPU convolution with `feature_group_count=channels` is several
    times slower than a loop of `kernel_size**2` strided slices, each times
    its kernel tap, which XLA fuses into one pass. `kernel` has Keras'
    layout `(rows, cols, channels, multiplier)`; output channel
    `c * multiplier + m` as in Keras. Needs static spatial sizes.
    """
    kh, kw, channels, multiplier = kernel.shape
    sh, sw = strides
    rows, cols = x.shape[1], x.shape[2]
    if padding == "same":
        top, bottom = same_padding(rows, kh, sh)
        left, right = same_padding(cols, kw, sw)
        if top or bottom or left or right:
            x = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
            rows, cols = rows + top + bottom, cols + left + right
    out_rows, out_cols = (rows - kh) // sh + 1, (cols - kw) // sw + 1
    if multiplier > 1:
        x = ops.repeat(x, multiplier, axis=-1)
    taps = ops.reshape(kernel, (kh, kw, channels * multiplier))
    out = None
    for i in range(kh):
        for j in range(kw):
            window = x[:, i:i + (out_rows - 1) * sh + 1:sh,
                       j:j + (out_cols - 1) * sw + 1:sw, :]
            term = window * taps[i, j]
            out = term if out is None else out + term
    return out


def pointwise_matmul(x, kernel, strides):
    """1x1 convolution of an NHWC tensor as a matrix product over channels.

    XLA's CPU convolution is up to 5x slower than its matrix product for
    1x1 kernels with many input and few output channels (the projections of
    inverted residuals): 159 vs 32 ms for 32x56x56x144 -> 24 channels.
    """
    if tuple(strides) != (1, 1):
        x = x[:, ::strides[0], ::strides[1], :]
    return ops.matmul(x, kernel[0, 0])


def torch_conv_nhwc(x, kernel, bias, strides, padding, depthwise):
    """Convolution of an NHWC torch tensor without layout copies.

    Keras' PyTorch backend makes every NHWC input and output contiguous in
    NCHW around `conv2d`, two full copies per layer. A permuted view of an
    NHWC tensor is an NCHW tensor in PyTorch's `channels_last` memory
    format, which oneDNN convolves as is and returns in the same format, so
    permuting back is a view too.
    """
    import torch.nn.functional as F

    kh, kw = kernel.shape[0], kernel.shape[1]
    xt = x.permute(0, 3, 1, 2)
    pad = 0
    if padding == "same":
        top, bottom = same_padding(x.shape[1], kh, strides[0])
        left, right = same_padding(x.shape[2], kw, strides[1])
        if (top, left) == (bottom, right):
            pad = (top, left)
        else:
            xt = F.pad(xt, (left, right, top, bottom))
    if depthwise:
        channels, multiplier = kernel.shape[2], kernel.shape[3]
        weight = kernel.permute(2, 3, 0, 1).reshape(
            channels * multiplier, 1, kh, kw)
        groups = channels
    else:
        weight = kernel.permute(3, 2, 0, 1)
        groups = 1
    out = F.conv2d(xt, weight, bias, tuple(strides), pad, 1, groups)
    return out.permute(0, 2, 3, 1)


def torch_batch_norm_nhwc(x, mean, variance, gamma, beta, epsilon):
    """Inference BatchNorm of an NHWC torch tensor over its last axis in one
    fused pass (Keras' PyTorch backend makes four elementwise passes), on the
    channels_last NCHW view of the tensor: no copy either way."""
    import torch.nn.functional as F

    out = F.batch_norm(x.permute(0, 3, 1, 2), mean, variance, gamma, beta,
                       False, 0.0, epsilon)
    return out.permute(0, 2, 3, 1)


def torch_batch_norm_train_nhwc(x, gamma, beta, epsilon):
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
