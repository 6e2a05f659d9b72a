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
    input is never read and is cropped; but not the last rows, fewer than a
    stride, that a strided 'valid' correlation leaves unread anyway:
    cropping those would copy the whole input, as on MobileNetV4's stride-2
    convolutions of an even, explicitly padded map). The other taps only
    multiply zeros: with a dilation as large as the map (DeepLab's rate 36
    on a 32x32 map) a 3x3 kernel is its middle tap."""
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
    after = (out - 1) * stride + (last - first) * dilation + 1 - size - before
    return first, last, before, min(0, after + stride - 1) if after < 0 else after


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
    its kernel tap, which XLA fuses into one pass (dilated or not).
    `kernel` has Keras' layout
    `(rows, cols, channels, multiplier)`; output channel `c * multiplier +
    m` as in Keras. Taps that only read padding are left out. Needs static
    spatial sizes.
    """
    ((r0, r1), (c0, c1)), pads = live_window(
        x.shape[1:3], kernel.shape[:2], strides, padding, dilation)
    x = pad_or_crop(x, pads)
    kernel = kernel[r0:r1 + 1, c0:c1 + 1]
    kh, kw, channels, multiplier = kernel.shape
    if multiplier > 1:
        x = ops.repeat(x, multiplier, axis=-1)
    taps = ops.reshape(kernel, (kh, kw, channels * multiplier))
    if _jax_gradients_apply(x):
        return _reverse_mode(_jax_depthwise(), x, taps, tuple(strides),
                             tuple(dilation))
    return _shifted_sum(x, taps, strides, dilation)


def _window(x, i, j, out_shape, strides, dilation):
    """What tap (i, j) of a 'valid' correlation reads of an NHWC `x`: a
    strided slice of `out_shape` (rows, cols)."""
    (rows, cols), (sh, sw), (dh, dw) = out_shape, strides, dilation
    return x[:, i * dh:i * dh + (rows - 1) * sh + 1:sh,
             j * dw:j * dw + (cols - 1) * sw + 1:sw, :]


def _out_shape(shape, kernel_shape, strides, dilation):
    """(rows, cols) of a 'valid' correlation of a (rows, cols) input."""
    return tuple((shape[a] - (kernel_shape[a] - 1) * dilation[a] - 1)
                 // strides[a] + 1 for a in range(2))


def _shifted_sum(x, taps, strides, dilation):
    """The 'valid' depthwise correlation of a padded NHWC `x` with `taps`
    (rows, cols, channels): one strided slice per tap, times the tap."""
    out_shape = _out_shape(x.shape[1:3], taps.shape[:2], strides, dilation)
    out = None
    for i in range(taps.shape[0]):
        for j in range(taps.shape[1]):
            term = _window(x, i, j, out_shape, strides, dilation) * taps[i, j]
            out = term if out is None else out + term
    return out


# On JAX, the depthwise and full convolutions bring their own gradients
# (`jax.custom_vjp`: reverse mode, as Keras trains). Set False for JAX's
# autodiff of the plain kernels, e.g. for forward mode (`jax.jvp`,
# `jax.jacfwd`, `jax.hessian`), which a custom_vjp refuses.
CUSTOM_GRADIENTS = True


def _jax_gradients_apply(x):
    """Whether `x` is a JAX array or tracer (the backend whose autodiff of
    the sum of slices is slow: every tap's kernel gradient a pass over
    memory, every input gradient a padded copy), of a concrete shape (a
    symbolic batch, as Keras' SavedModel export traces it, keeps JAX's own
    gradients), and CUSTOM_GRADIENTS holds."""
    return (CUSTOM_GRADIENTS
            and type(x).__module__.startswith(("jax", "jaxlib"))
            and all(isinstance(d, int) for d in x.shape))


def _reverse_mode(kernel, *args):
    """`kernel(*args)` (a `jax.custom_vjp`), where forward mode (`jax.jvp`,
    `jacfwd`, `hessian`) fails with the way out added to JAX's error."""
    try:
        return kernel(*args)
    except TypeError as error:
        if "forward-mode" not in str(error):
            raise
        raise TypeError(
            f"{error} keras_mobilenets' JAX kernels bring their own "
            "reverse-mode gradients: set "
            "`keras_mobilenets.fast.shifted.CUSTOM_GRADIENTS = False` for "
            "JAX's own (forward mode included).") from error


_JAX_DEPTHWISE = []


def _jax_depthwise():
    """`_shifted_sum` as a `jax.custom_vjp` with cache-blocked gradients:
    the kernel's over slices of the batch that stay in cache (a scan),
    the input's as the correlation of the gradient with the flipped taps,
    one stride phase at a time, both several times faster than JAX's own
    on a CPU (docs/speed.md). Reverse mode only, as `custom_vjp` is:
    `jax.grad` and Keras' training, not `jax.jvp`."""
    if _JAX_DEPTHWISE:
        return _JAX_DEPTHWISE[0]
    import functools

    import jax
    import jax.numpy as jnp

    @functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
    def depthwise(x, taps, strides, dilation):
        return _shifted_sum(x, taps, strides, dilation)

    def depthwise_fwd(x, taps, strides, dilation):
        return _shifted_sum(x, taps, strides, dilation), (x, taps)

    def depthwise_bwd(strides, dilation, residuals, grad):
        x, taps = residuals
        kh, kw = taps.shape[:2]
        rows, cols = grad.shape[1:3]

        def term(window, i, j):
            return window * taps[i, j]

        def taps_gradient(x, grad):
            return None, jnp.stack([
                jnp.sum(_window(x, i, j, (rows, cols), strides, dilation)
                        * grad, axis=(0, 1, 2))
                for i in range(kh) for j in range(kw)])

        taps_grad = _in_blocks(taps_gradient, (x, grad))[1]
        return (_input_gradient(grad, x.shape[1:3], (kh, kw), strides,
                                dilation, term),
                taps_grad.reshape(kh, kw, x.shape[-1]))

    depthwise.defvjp(depthwise_fwd, depthwise_bwd)
    _JAX_DEPTHWISE.append(depthwise)
    return depthwise


def _in_blocks(fn, arrays, target=2 ** 20):
    """`fn(*arrays)` -> (per-image outputs or None, a sum over images), run
    a few images at a time (the fewest whose arrays reach `target` bytes, a
    divisor of the batch) in a `jax.lax.scan` (JAX): gradients that read
    every input and output gradient once per kernel tap then find them in
    cache, not memory."""
    import jax

    batch = arrays[0].shape[0]
    image = sum(a[0].size * a.dtype.itemsize for a in arrays)
    size = next((b for b in range(1, batch + 1)
                 if batch % b == 0 and b * image >= target), batch)
    if size == batch:
        return fn(*arrays)

    def step(total, chunk):
        out, part = fn(*chunk)
        return total + part, out

    blocks = tuple(a.reshape(batch // size, size, *a.shape[1:]) for a in arrays)
    first = jax.eval_shape(fn, *(b[0] for b in blocks))[1]
    total, outs = jax.lax.scan(
        step, jax.numpy.zeros(first.shape, first.dtype), blocks)
    if outs is not None:
        outs = outs.reshape(batch, *outs.shape[2:])
    return outs, total


def _phases(size, out, taps, stride, dilation):
    """Along one axis of a 'valid' correlation of `size` input rows: per
    stride phase p (input rows p, p + stride, ...), the (tap, offset into
    the output gradient) pairs that reach it; the rows per phase; and the
    gradient's (before, after) zeros."""
    rows = -(-size // stride)
    found = []
    for p in range(stride):
        found.append([(i, (p - i * dilation) // stride) for i in range(taps)
                      if (p - i * dilation) % stride == 0])
    offsets = [q for pairs in found for _, q in pairs] or [0]
    before = max(0, -min(offsets))
    after = max(0, rows - 1 + max(offsets) - (out - 1))
    return found, rows, (before, after)


def _input_gradient(grad, size, kernel_shape, strides, dilation, term):
    """The input gradient of a 'valid' correlation (JAX): the output
    gradient `grad` (batch, rows, cols, K) correlated back through each
    tap, `term(window, i, j)` giving tap (i, j)'s part of a window of the
    zero-padded `grad`, one stride phase at a time and interleaved: no
    padded copy per tap, as JAX's own gradient of a slice makes."""
    import jax.numpy as jnp

    (kh, kw), batch = kernel_shape, grad.shape[0]
    row_phases, rows, row_pad = _phases(size[0], grad.shape[1], kh,
                                        strides[0], dilation[0])
    col_phases, cols, col_pad = _phases(size[1], grad.shape[2], kw,
                                        strides[1], dilation[1])
    padded = jnp.pad(grad, ((0, 0), row_pad, col_pad, (0, 0)))
    grid, channels = [], None
    for row_taps in row_phases:
        line = []
        for col_taps in col_phases:
            out = None
            for i, qi in row_taps:
                for j, qj in col_taps:
                    r, c = qi + row_pad[0], qj + col_pad[0]
                    part = term(padded[:, r:r + rows, c:c + cols, :], i, j)
                    out = part if out is None else out + part
            line.append(out)
            if out is not None:
                channels = out.shape[-1]
        grid.append(line)
    grid = [[jnp.zeros((batch, rows, cols, channels), grad.dtype)
             if out is None else out for out in line] for line in grid]
    if tuple(strides) == (1, 1):
        return grid[0][0]
    # Interleave the phases: (batch, rows, row phase, cols, col phase, C).
    full = jnp.stack([jnp.stack(line, axis=3) for line in grid], axis=2)
    full = full.reshape(batch, rows * strides[0], cols * strides[1], channels)
    return full[:, :size[0], :size[1], :]


_JAX_CONV = []


def _jax_conv():
    """A 'valid' convolution (groups 1, any kernel, stride and dilation) as
    a `jax.custom_vjp` for CPU: XLA's own convolution forward, and gradients
    through the matrix product of its image patches (the kernel's: patches
    transposed times the gradient; the input's: the gradient times the
    kernel transposed, put back by `_input_gradient`), faster than XLA's
    own gradient convolutions for MobileNetV4's stride-2 3x3 convolutions
    (docs/speed.md). Reverse mode only, as `custom_vjp` is."""
    if _JAX_CONV:
        return _JAX_CONV[0]
    import functools

    import jax
    import jax.numpy as jnp

    def forward(x, kernel, strides, dilation):
        return jax.lax.conv_general_dilated(
            x, kernel, strides, "VALID", rhs_dilation=dilation,
            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    @functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
    def conv(x, kernel, strides, dilation):
        return forward(x, kernel, strides, dilation)

    def conv_fwd(x, kernel, strides, dilation):
        # symbolic_zeros: whether the input needs a gradient at all (a
        # stem's input does not: that gradient is half its backward).
        residuals = (x.value, kernel.value, () if x.perturbed else None)
        return forward(x.value, kernel.value, strides, dilation), residuals

    def conv_bwd(strides, dilation, residuals, grad):
        x, kernel, input_needed = residuals
        kh, kw, cin, cout = kernel.shape
        rows, cols = grad.shape[1:3]
        matrix = kernel.reshape(kh * kw * cin, cout)

        def term(window, i, j):
            tap = i * kw + j
            return window[..., tap * cin:(tap + 1) * cin]

        def block(x, grad):
            patches = jnp.concatenate([
                _window(x, i, j, (rows, cols), strides, dilation)
                for i in range(kh) for j in range(kw)], axis=-1)
            kernel_grad = jax.lax.dot_general(
                patches, grad, (((0, 1, 2), (0, 1, 2)), ((), ())))
            if input_needed is None:
                return None, kernel_grad
            return _input_gradient(grad @ matrix.T, x.shape[1:3], (kh, kw),
                                   strides, dilation, term), kernel_grad

        input_grad, kernel_grad = _in_blocks(block, (x, grad))
        return input_grad, kernel_grad.reshape(kh, kw, cin, cout)

    conv.defvjp(conv_fwd, conv_bwd, symbolic_zeros=True)
    _JAX_CONV.append(conv)
    return conv


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
    if _jax_gradients_apply(x):
        return _reverse_mode(_jax_conv(), x, kernel, tuple(strides),
                             tuple(dilation))
    return ops.conv(x, kernel, tuple(strides), "valid", "channels_last",
                    tuple(dilation))


def pointwise_matmul(x, kernel, strides):
    """1x1 convolution of an NHWC tensor as a matrix product over channels.

    XLA's CPU convolution is several times slower than its matrix product
    for 1x1 kernels with many input and few output channels (the
    projections of inverted residuals).
    """
    if tuple(strides) != (1, 1):
        x = x[:, ::strides[0], ::strides[1], :]
    return ops.matmul(x, kernel[0, 0])
