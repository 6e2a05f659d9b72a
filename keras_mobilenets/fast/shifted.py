"""Convolutions in `keras.ops` that XLA runs faster on CPU than its own:
depthwise as a sum of shifted products, 1x1 as a matrix product; and the
'same' padding rule every fast kernel follows."""

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
