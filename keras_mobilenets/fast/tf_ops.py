"""TensorFlow kernels of the fast layers: convolutions through the taps that
read the map (`live_window`), dilated ones in TensorFlow's own dilated
Conv2D op, with gradients that TensorFlow's CPU kernels lack.

Keras calls `tf.nn.convolution`, which runs a dilated convolution through
`space_to_batch` and back (its direct op only on TPUs), several times
slower on a CPU than TensorFlow's Conv2D op with `dilations` for
DeepLabV3's ASPP rates, and slower still than the lone tap left at rate 36
on a small map (a matrix product; docs/speed.md). Without oneDNN
(`TF_ENABLE_ONEDNN_OPTS=0`)
TensorFlow's CPU gradient kernels refuse dilation ("Current CPU
implementations do not yet support dilation rates larger than 1"), hence
the gradients here.
"""

from keras import ops

from .shifted import live_window, pad_or_crop, same_padding


def applies(layer, shape, depthwise):
    """Whether a float32 channels_last convolution `layer` of an input of
    static `shape` (rows, cols) runs here: the kernel cut to its live taps
    is smaller, or (not depthwise: `tf.nn.depthwise_conv2d` has no direct
    dilated op either) it is dilated."""
    ((r0, r1), (c0, c1)), _ = live_window(
        shape, layer.kernel_size, layer.strides, layer.padding,
        layer.dilation_rate)
    cut = (r1 - r0 + 1, c1 - c0 + 1) != tuple(layer.kernel_size)
    return cut or (not depthwise and max(layer.dilation_rate) > 1)


def conv(x, kernel, strides, padding, dilation, depthwise=False):
    """A Keras convolution of an NHWC tensor (`padding` "same", "valid" or
    ((top, bottom), (left, right)) zeros; `kernel` in Keras' layout, depthwise
    `(rows, cols, channels, multiplier)`) through its live taps: a 'valid'
    convolution of the padded (or cropped) input with the cut kernel, dilated
    only along axes where more than one tap is left."""
    strides, dilation = tuple(strides), tuple(dilation)
    ((r0, r1), (c0, c1)), pads = live_window(
        x.shape[1:3], kernel.shape[:2], strides, padding, dilation)
    cut = kernel[r0:r1 + 1, c0:c1 + 1]
    left = tuple(1 if n == 1 else d for n, d in zip(cut.shape[:2], dilation))
    if depthwise:
        return ops.depthwise_conv(pad_or_crop(x, pads), cut, strides, "valid",
                                  "channels_last", left)
    if left == (1, 1):
        # TensorFlow's own gradients (an undilated Conv2D op).
        return _valid(pad_or_crop(x, pads), cut, strides, left)
    # Dilated, so stride 1 (Keras allows no other).
    if padding == "same":
        padding = tuple(same_padding(x.shape[1 + a],
                                     (kernel.shape[a] - 1) * dilation[a] + 1, 1)
                        for a in range(2))
    elif padding == "valid":
        padding = ((0, 0), (0, 0))
    return _dilated(x, kernel, tuple(map(tuple, padding)), dilation)


def _valid(x, kernel, strides, dilation):
    """TensorFlow's Conv2D op, 'valid' (not `tf.nn.convolution`)."""
    import tensorflow as tf

    return tf.nn.conv2d(x, kernel, strides, "VALID", dilations=dilation)


def _dilated(x, kernel, padding, dilation):
    """`conv` of a stride-1 dilated convolution with explicit padding, as a
    `tf.custom_gradient`: the input's gradient is the same kind of
    convolution of the output gradient with the flipped, transposed kernel
    (through its live taps too), the kernel's one matrix product per live
    tap (taps that only read padding get zeros)."""
    import tensorflow as tf

    @tf.custom_gradient
    def run(x, kernel):
        def gradient(grad):
            (kh, kw), (dh, dw) = kernel.shape[:2], dilation
            (top, bottom), (left, right) = padding
            # Output row r reads padded row r + i * d: input row n gets
            # grad[n + top - i * d] through tap i, a correlation of the
            # gradient padded by (k - 1) * d - top before and (k - 1) * d -
            # bottom after with the flipped kernel.
            back = (((kh - 1) * dh - top, (kh - 1) * dh - bottom),
                    ((kw - 1) * dw - left, (kw - 1) * dw - right))
            flipped = tf.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))
            return (_dilated(grad, flipped, back, dilation),
                    _kernel_gradient(x, grad, kernel.shape, padding, dilation))

        ((r0, r1), (c0, c1)), pads = live_window(
            x.shape[1:3], kernel.shape[:2], (1, 1), padding, dilation)
        cut = kernel[r0:r1 + 1, c0:c1 + 1]
        left = tuple(1 if n == 1 else d for n, d in zip(cut.shape[:2],
                                                        dilation))
        return _valid(pad_or_crop(x, pads), cut, (1, 1), left), gradient

    # A tensor: a variable read inside would want its own gradient.
    return run(x, tf.convert_to_tensor(kernel))


def _kernel_gradient(x, grad, shape, padding, dilation):
    """The gradient of a stride-1 convolution's `shape` kernel: per live tap,
    what it read of the padded input (transposed) times the output
    gradient; zeros for the taps that only read padding."""
    import tensorflow as tf

    ((r0, r1), (c0, c1)), pads = live_window(
        x.shape[1:3], shape[:2], (1, 1), padding, dilation)
    x = pad_or_crop(x, pads)
    (rows, cols), (dh, dw) = grad.shape[1:3], dilation
    grad = tf.reshape(grad, (-1, shape[3]))
    taps = tf.stack([tf.stack([
        tf.matmul(tf.reshape(x[:, i * dh:i * dh + rows, j * dw:j * dw + cols],
                             (-1, shape[2])), grad, transpose_a=True)
        for j in range(c1 - c0 + 1)]) for i in range(r1 - r0 + 1)])
    return tf.pad(taps, ((r0, shape[0] - 1 - r1), (c0, shape[1] - 1 - c1),
                         (0, 0), (0, 0)))
