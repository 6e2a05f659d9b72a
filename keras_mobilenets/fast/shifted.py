"""Convolutions in `keras.ops` that XLA runs faster on CPU than its own:
depthwise as a sum of shifted products, 1x1 as a matrix product, dilated
convolutions through the taps that read the map; and the padding rules
every fast kernel follows ('same', and which taps only ever read zeros)."""

from keras import ops


def same_padding(size, kernel_size, stride):
    """(before, after) zeros of 'same' padding along one axis (TensorFlow's
    rule, which Keras follows on every backend: the odd zero goes after);
    `kernel_size` is the span of a dilated kernel, `(k - 1) * d + 1`."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def live_taps(size, kernel_size, stride, dilation, before, after):
    """Along one axis of a convolution whose input is padded by (before,
    after) zeros: the first and last taps that read an input value, and the
    (before, after) padding of the kernel cut to them (negative: that much
    input is never read and is cropped). The other taps only multiply
    zeros: with a dilation as large as the map (DeepLab's rate 36 on a
    32x32 map) a 3x3 kernel is its middle tap."""
    span = (kernel_size - 1) * dilation + 1
    out = (size + before + after - span) // stride + 1
    live = []
    for i in range(kernel_size):
        # Output r reads input r * stride + i * dilation - before.
        offset = i * dilation - before
        if max(0, -(offset // stride)) <= min(out - 1,
                                              (size - 1 - offset) // stride):
            live.append(i)
    if out < 1 or not live:
        return 0, kernel_size - 1, before, after
    first, last = live[0], live[-1]
    before -= first * dilation
    return (first, last, before,
            (out - 1) * stride + (last - first) * dilation + 1 - size - before)


def live_window(shape, kernel_shape, strides, padding, dilation):
    """`live_taps` of both spatial axes of a convolution of `shape` (rows,
    cols) with a kernel of `kernel_shape` (rows, cols): `padding` "same",
    "valid" or ((top, bottom), (left, right)) zeros. Returns ((first row,
    last row), (first col, last col)) of the kernel's live taps and
    ((top, bottom), (left, right)) of the cut kernel."""
    taps, pads = [], []
    for axis in range(2):
        size, k, s, d = (shape[axis], kernel_shape[axis], strides[axis],
                         dilation[axis])
        if padding == "same":
            pad = same_padding(size, (k - 1) * d + 1, s)
        elif padding == "valid":
            pad = (0, 0)
        else:
            pad = tuple(padding[axis])
        first, last, before, after = live_taps(size, k, s, d, *pad)
        taps.append((first, last))
        pads.append((before, after))
    return tuple(taps), tuple(pads)


def pad_or_crop(x, pads):
    """An NHWC tensor with ((top, bottom), (left, right)) zeros added,
    negative ones cropping instead."""
    (top, bottom), (left, right) = pads
    if min(top, bottom, left, right) < 0:
        x = x[:, max(-top, 0):x.shape[1] - max(-bottom, 0),
              max(-left, 0):x.shape[2] - max(-right, 0), :]
    if max(top, bottom, left, right) > 0:
        x = ops.pad(x, [[0, 0], [max(top, 0), max(bottom, 0)],
                        [max(left, 0), max(right, 0)], [0, 0]])
    return x


def depthwise_shifted(x, kernel, strides, padding, dilation=(1, 1)):
    """Depthwise convolution of an NHWC tensor as a sum of shifted products.

    XLA's CPU convolution with `feature_group_count=channels` is several
    times slower than a loop of `kernel_size**2` strided slices, each times
    its kernel tap, which XLA fuses into one pass (dilated or not: 166 vs
    6 ms for 4x64x64x384, 3x3 at dilation 2). `kernel` has Keras' layout
    `(rows, cols, channels, multiplier)`; output channel `c * multiplier +
    m` as in Keras. Taps that only read padding are left out. Needs static
    spatial sizes.
    """
    ((r0, r1), (c0, c1)), pads = live_window(
        x.shape[1:3], kernel.shape[:2], strides, padding, dilation)
    x = pad_or_crop(x, pads)
    kernel = kernel[r0:r1 + 1, c0:c1 + 1]
    kh, kw, channels, multiplier = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    out_rows = (x.shape[1] - (kh - 1) * dh - 1) // sh + 1
    out_cols = (x.shape[2] - (kw - 1) * dw - 1) // sw + 1
    if multiplier > 1:
        x = ops.repeat(x, multiplier, axis=-1)
    taps = ops.reshape(kernel, (kh, kw, channels * multiplier))
    out = None
    for i in range(kh):
        for j in range(kw):
            window = x[:, i * dh:i * dh + (out_rows - 1) * sh + 1:sh,
                       j * dw:j * dw + (out_cols - 1) * sw + 1:sw, :]
            term = window * taps[i, j]
            out = term if out is None else out + term
    return out


def conv_live(x, kernel, strides, padding, dilation):
    """A regular convolution of an NHWC tensor through its live taps only
    (`live_window`): XLA's own convolution of the cut kernel, or a matrix
    product where one tap is left."""
    ((r0, r1), (c0, c1)), pads = live_window(
        x.shape[1:3], kernel.shape[:2], strides, padding, dilation)
    x = pad_or_crop(x, pads)
    kernel = kernel[r0:r1 + 1, c0:c1 + 1]
    if tuple(kernel.shape[:2]) == (1, 1):
        return pointwise_matmul(x, kernel, strides)
    return ops.conv(x, kernel, tuple(strides), "valid", "channels_last",
                    tuple(dilation))


def pointwise_matmul(x, kernel, strides):
    """1x1 convolution of an NHWC tensor as a matrix product over channels.

    XLA's CPU convolution is up to 5x slower than its matrix product for
    1x1 kernels with many input and few output channels (the projections of
    inverted residuals): 159 vs 32 ms for 32x56x56x144 -> 24 channels.
    """
    if tuple(strides) != (1, 1):
        x = x[:, ::strides[0], ::strides[1], :]
    return ops.matmul(x, kernel[0, 0])
