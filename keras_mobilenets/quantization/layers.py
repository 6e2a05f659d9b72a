"""The layers of a QAT model: what LiteRT's int8 kernels compute, simulated
in float32 with `keras.quantizers.fake_quant_with_min_max_vars` (on
TensorFlow, TensorFlow's FakeQuant ops, which its LiteRT converter turns into
int8 tensors with those ranges)."""

import keras
from keras import ops

NUM_BITS = 8
# Layers whose int8 output LiteRT writes with its input's scale and zero
# point: nothing to quantize after them.
PASS_THROUGH = tuple(getattr(keras.layers, name) for name in (
    "ZeroPadding2D", "Flatten", "Reshape", "Dropout", "SpatialDropout2D",
    "MaxPooling2D", "Permute", "Identity", "Cropping2D"))
WIDEN = 1e-3  # of a learned range, see `ActivationQuantizer.range`


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class ActivationQuantizer(keras.layers.Layer):
    """Per-tensor asymmetric int8 fake quantization of an activation.

    Its range [min, max] (non-trainable variables, saved with the model) is
    the running mean of the batch min and max over the first batches it
    sees, then a moving average with `momentum`, while it learns: in
    `quantization.calibrate` and in training (`training=True`) unless
    `frozen` (a variable too, `quantization.freeze_ranges`). It is widened
    to hold 0, as int8's zero point must. Gradients pass straight through
    inside the range (`fake_quant_with_min_max_vars`).

    Args:
        momentum: Weight of the old range once it is a moving average.
        fixed_range: None (learned), or (min, max) that never changes:
            LiteRT's softmax writes int8 with scale 1/256 and zero point
            -128, i.e. (0, 255 / 256).
    """

    def __init__(self, momentum=0.99, fixed_range=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError("`momentum` must be in [0, 1). "
                             f"Received: momentum={momentum!r}")
        if fixed_range is not None:
            fixed_range = tuple(float(v) for v in fixed_range)
            if len(fixed_range) != 2 or not fixed_range[0] <= 0 < fixed_range[1]:
                raise ValueError("`fixed_range` must be (min <= 0, max > 0). "
                                 f"Received: fixed_range={fixed_range!r}")
        self.momentum = momentum
        self.fixed_range = fixed_range
        self.calibrating = False  # set by `quantization.calibrate`

    def build(self, input_shape):
        low, high = self.fixed_range or (0.0, 0.0)
        for name, value in (("min", low), ("max", high),
                            ("batches", float(self.fixed_range is not None)),
                            ("frozen", 0.0)):
            setattr(self, name, self.add_weight(
                shape=(), initializer=keras.initializers.Constant(value),
                trainable=False, name=name, dtype="float32"))

    @property
    def calibrated(self):
        return float(ops.convert_to_numpy(self.batches)) > 0

    def range(self):
        """The range in use: [min, max] widened to hold 0 (and not empty),
        and, when learned, by a thousandth: inputs on a lattice (8-bit
        pixels / 127.5 - 1) would otherwise fall exactly half-way between
        int8 steps, where TensorFlow's FakeQuant rounds up and LiteRT's
        QUANTIZE away from zero."""
        low = ops.minimum(ops.convert_to_tensor(self.min), 0.0)
        high = ops.maximum(ops.convert_to_tensor(self.max), 0.0)
        high = ops.maximum(high, low + 1e-6)
        if self.fixed_range is None:
            margin = (high - low) * WIDEN
            low, high = low - ops.where(low < 0, margin, 0.0), high + margin
        return low, high

    def _learn(self, inputs):
        x = ops.cast(ops.stop_gradient(inputs), "float32")
        batches = ops.convert_to_tensor(self.batches)
        weight = ops.maximum(1.0 / (batches + 1.0), 1.0 - self.momentum)
        weight = ops.where(ops.convert_to_tensor(self.frozen) > 0, 0.0, weight)
        for variable, value in ((self.min, ops.min(x)), (self.max, ops.max(x))):
            old = ops.convert_to_tensor(variable)
            variable.assign(old + weight * (value - old))
        self.batches.assign(batches + ops.where(weight > 0, 1.0, 0.0))

    def call(self, inputs, training=None):
        if self.fixed_range is None and (training or self.calibrating):
            self._learn(inputs)
        low, high = self.range()
        return keras.quantizers.fake_quant_with_min_max_vars(
            inputs, low, high, num_bits=NUM_BITS)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, fixed_range=self.fixed_range)
        return config


def _input_quantizer(tensor):
    """The ActivationQuantizer whose int8 output reaches a symbolic
    `tensor` through layers that pass int8 through, or None."""
    while tensor is not None:
        history = getattr(tensor, "_keras_history", None)
        op = history.operation if history else None
        if isinstance(op, ActivationQuantizer):
            return op
        if not isinstance(op, PASS_THROUGH):
            return None
        tensor = op._inbound_nodes[0].input_tensors[0]
    return None


class _Int32Bias:
    """LiteRT adds a bias rounded to int32 in units of input scale x weight
    scale: the simulation rounds it the same way (without it, a value in a
    few hundred lands one int8 step away, and later layers carry it). The
    input's scale is its ActivationQuantizer's, found through the graph
    when the layer is called on symbolic tensors (as `prepare` and a
    `.keras` load do)."""

    _input_range = None  # a function: the input quantizer's (min, max)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, keras.KerasTensor):
            quantizer = _input_quantizer(inputs)
            # A function, not the layer: Keras would track it as a sublayer.
            self._input_range = None if quantizer is None else quantizer.range
        return super().__call__(inputs, *args, **kwargs)

    def _input_scale(self):
        if self._input_range is None:
            return None
        low, high = self._input_range()
        return ops.stop_gradient((high - low) / (2 ** NUM_BITS - 1))

    def quantized(self, kernel, bias, axis):
        """(fake-quantized kernel, bias rounded to int32 units) with the
        kernel's int8 range from `weight_bound`; `bias` None: none."""
        input_scale = self._input_scale()
        bound = weight_bound(kernel, axis, bias, input_scale)
        kernel = keras.quantizers.fake_quant_with_min_max_vars(
            kernel, -bound, bound, num_bits=NUM_BITS, narrow_range=True,
            axis=axis)
        if bias is None or input_scale is None:
            return kernel, bias
        unit = input_scale * bound / (2 ** (NUM_BITS - 1) - 1)
        # Straight through: the gradient of the unrounded bias.
        return kernel, bias + ops.stop_gradient(
            ops.round(bias / unit) * unit - bias)


# TensorFlow's converter widens a weight range narrower than 1e-6 to
# [-5e-7, 5e-7] (kNearZeroTolerance in its quantization_utils.cc).
MIN_BOUND = 5e-7
# An int32 bias stays below this many units (input scale x weight scale),
# leaving the accumulator room for the products, at most 255 x 127 each.
BIAS_UNITS = 2.0 ** 30


def weight_bound(kernel, axis, bias=None, input_scale=None):
    """The symmetric int8 range [-bound, bound] of `kernel` per output
    channel (`axis`; None: per tensor), no gradient through it: the largest
    |weight|, but at least `MIN_BOUND`, as the converter makes it, and wide
    enough that the bias fits int32 in units of `input_scale` x weight
    scale. A channel that BatchNorm folding left with weights ~1e-10 (a
    dead channel of trained weights, moving variance ~1e-20) and a bias of
    a few units would otherwise need ~1e11 units: the converter saturates
    it at -2**31, and the int32 sum wraps around where LiteRT adds a
    negative product to it (a ReLU6 output of 6 instead of 0)."""
    reduce = None if axis is None else [
        i for i in range(len(kernel.shape)) if i != axis % len(kernel.shape)]
    bound = ops.maximum(ops.max(ops.abs(kernel), axis=reduce), MIN_BOUND)
    if bias is not None and input_scale is not None:
        bias = ops.abs(bias) if axis is not None else ops.max(ops.abs(bias))
        bound = ops.maximum(bound, bias * (2 ** (NUM_BITS - 1) - 1)
                            / (input_scale * BIAS_UNITS))
    return ops.stop_gradient(bound)


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class QuantizedConv2D(_Int32Bias, keras.layers.Layer):
    """A Conv2D or DepthwiseConv2D (channels_last) and the BatchNorm that
    follows it, as LiteRT runs them: the BatchNorm folded into the kernel
    and bias with its moving statistics (also in training: the statistics
    are frozen, gamma and beta still learn), the folded kernel fake-quantized
    per output channel, then the bias and a ReLU/ReLU6 `activation` that
    LiteRT fuses into the convolution. Its output is not quantized here: an
    `ActivationQuantizer` follows where LiteRT writes int8.

    Variables keep Keras' names (kernel, bias, gamma, beta, moving_mean,
    moving_variance), so the source layers' weights are set as they are.

    Args:
        filters: Output channels (None for depthwise).
        kernel_size, strides, padding, dilation_rate, use_bias: the
            convolution's.
        depthwise: A DepthwiseConv2D.
        depth_multiplier: The depthwise multiplier.
        batch_norm: None, or the BatchNorm's {"epsilon", "center", "scale"}.
        activation: None, "relu" or "relu6".
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 dilation_rate=(1, 1), use_bias=True, depthwise=False,
                 depth_multiplier=1, batch_norm=None, activation=None,
                 **kwargs):
        super().__init__(**kwargs)
        if activation not in (None, "relu", "relu6"):
            raise ValueError("`activation` must be None, 'relu' or 'relu6' "
                             f"(fused). Received: activation={activation!r}")
        self.filters = filters
        self.kernel_size = tuple(kernel_size)
        self.strides = tuple(strides)
        self.padding = padding
        self.dilation_rate = tuple(dilation_rate)
        self.use_bias = use_bias
        self.depthwise = depthwise
        self.depth_multiplier = depth_multiplier
        self.batch_norm = None if batch_norm is None else dict(batch_norm)
        self.activation = activation

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.depthwise:
            shape = self.kernel_size + (channels, self.depth_multiplier)
            out = channels * self.depth_multiplier
        else:
            shape = self.kernel_size + (channels, self.filters)
            out = self.filters
        self.kernel = self.add_weight(shape=shape, name="kernel",
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(out,), name="bias",
                                    initializer="zeros") \
            if self.use_bias else None
        bn = self.batch_norm or {}
        self.gamma = self.add_weight(shape=(out,), name="gamma",
                                     initializer="ones") \
            if bn.get("scale") else None
        self.beta = self.add_weight(shape=(out,), name="beta",
                                    initializer="zeros") \
            if bn.get("center") else None
        if bn:
            self.moving_mean = self.add_weight(
                shape=(out,), name="moving_mean", initializer="zeros",
                trainable=False)
            self.moving_variance = self.add_weight(
                shape=(out,), name="moving_variance", initializer="ones",
                trainable=False)

    def folded(self):
        """(kernel, bias) with the BatchNorm folded in (Keras' layout)."""
        kernel = ops.convert_to_tensor(self.kernel)
        bias = ops.convert_to_tensor(self.bias) if self.use_bias else 0.0
        if not self.batch_norm:
            return kernel, bias
        scale = ops.rsqrt(ops.convert_to_tensor(self.moving_variance)
                          + self.batch_norm["epsilon"])
        if self.gamma is not None:
            scale = scale * self.gamma
        shift = (bias - self.moving_mean) * scale
        if self.beta is not None:
            shift = shift + self.beta
        return kernel * ops.reshape(scale, kernel.shape[2:] if self.depthwise
                                    else (-1,)), shift

    def call(self, inputs):
        kernel, bias = self.folded()
        # Output channel c * multiplier + m of a depthwise kernel is
        # kernel[..., c, m]: per channel on the flattened last two axes.
        flat = ops.reshape(kernel, self.kernel_size + (1, -1)) \
            if self.depthwise else kernel
        has_bias = self.use_bias or self.batch_norm
        flat, bias = self.quantized(flat, bias if has_bias else None, -1)
        if self.depthwise:
            outputs = ops.depthwise_conv(
                inputs, ops.reshape(flat, kernel.shape), self.strides,
                self.padding, dilation_rate=self.dilation_rate)
        else:
            outputs = ops.conv(inputs, flat, self.strides, self.padding,
                               dilation_rate=self.dilation_rate)
        if bias is not None:
            outputs = outputs + bias
        if self.activation == "relu":
            return ops.relu(outputs)
        if self.activation == "relu6":
            return ops.relu6(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        rows, cols = input_shape[1:3]
        sizes = []
        for size, k, s, d in zip((rows, cols), self.kernel_size,
                                 self.strides, self.dilation_rate):
            if size is None:
                sizes.append(None)
            elif self.padding == "same":
                sizes.append(-(-size // s))
            else:
                sizes.append((size - d * (k - 1) - 1) // s + 1)
        channels = (input_shape[-1] * self.depth_multiplier if self.depthwise
                    else self.filters)
        return (input_shape[0], *sizes, channels)

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in (
            "filters", "kernel_size", "strides", "padding", "dilation_rate",
            "use_bias", "depthwise", "depth_multiplier", "batch_norm",
            "activation")})
        return config


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class QuantizedDense(_Int32Bias, keras.layers.Layer):
    """A Dense layer (2D inputs) with its kernel fake-quantized per tensor
    (TensorFlow's converter cannot keep a per-channel range through the
    transpose it gives FULLY_CONNECTED's kernel); linear (its activation
    follows as a layer of its own).

    Args:
        units, use_bias: the Dense layer's.
    """

    def __init__(self, units, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      name="kernel",
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.units,), name="bias",
                                    initializer="zeros") \
            if self.use_bias else None

    def call(self, inputs):
        kernel, bias = self.quantized(
            ops.convert_to_tensor(self.kernel),
            ops.convert_to_tensor(self.bias) if self.use_bias else None, None)
        outputs = ops.matmul(inputs, kernel)
        return outputs if bias is None else outputs + bias

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, use_bias=self.use_bias)
        return config
