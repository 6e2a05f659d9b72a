"""The custom layers, for what Keras lacks: layer scale and the multi-query
attention of MobileNetV4's hybrid models and the blur pooling of its
anti-aliased variant (only `keras.ops`, so every backend runs them); and,
from `fast.layers`, Keras' convolutions and BatchNorm with kernels that are
fast on every backend's CPU."""

import math

import keras
import numpy as np
from keras import layers
from keras import ops

from .fast import steps as torch_steps
from .fast.layers import (  # noqa: F401  (public here)
    BatchNormalization, Conv2D, DepthwiseConv2D)


class _ArgumentsLayer(layers.Layer):
    """A layer whose config is Keras' plus its constructor arguments, named
    in `ARGUMENTS` and kept as attributes of the same names."""

    ARGUMENTS = ()

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self.ARGUMENTS})
        return config


def _data_format(data_format):
    """`data_format`, or Keras' default for None; checked."""
    data_format = data_format or keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}")
    return data_format


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class LayerScale(_ArgumentsLayer):
    """Multiplies each channel by a learned scale `gamma` (Touvron et al.,
    https://arxiv.org/abs/2103.17239), as timm's `LayerScale2d`.

    Args:
        init_value: Initial value of every entry of `gamma`. MobileNetV4's
            hybrids use 1e-5.
        axis: The channel axis: -1 (channels last) or 1 (channels first).
    """

    ARGUMENTS = ("init_value", "axis")

    def __init__(self, init_value=1e-5, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.init_value = init_value
        self.axis = axis

    def build(self, input_shape):
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(
                "LayerScale needs a known number of channels on axis "
                f"{self.axis}. Received: input_shape={input_shape}"
            )
        self.gamma = self.add_weight(
            shape=(channels,),
            initializer=keras.initializers.Constant(self.init_value),
            name="gamma",
        )

    def call(self, inputs):
        shape = [1] * len(inputs.shape)
        shape[self.axis] = -1
        return inputs * ops.reshape(ops.cast(self.gamma, inputs.dtype), shape)

    def torch_step(self, ndim):
        """This layer in the PyTorch backend's inference plan (`fast.plan`,
        whose tensors have their channels on axis 1): where the channels
        are last here, the channel scale; else None (Keras' call)."""
        if self.axis not in (-1, ndim - 1):
            return None
        return torch_steps.channel_scale(self.gamma)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class MultiQueryAttention(_ArgumentsLayer):
    """Multi-query dot-product attention between 2D feature maps (Shazeer,
    https://arxiv.org/abs/1911.02150): `num_heads` query heads attend over one
    key and one value head that they all share.

    The projections are not part of this layer: MobileNetV4 computes them with
    plain 1x1 convolutions (and downsamples keys and values with depthwise
    convolutions first), see `blocks.mobile_mqa`. Called on
    `[query, key, value]`:

    - query: `(batch, rows, cols, num_heads * key_dim)`, channels head-major
      (channel `h * key_dim + d` is dimension d of head h);
    - key: `(batch, kv_rows, kv_cols, key_dim)`;
    - value: `(batch, kv_rows, kv_cols, value_dim)`;

    and returns `(batch, rows, cols, num_heads * value_dim)`, head-major, as
    timm's `MultiQueryAttention2d` (scale `key_dim ** -0.5`). With
    `data_format="channels_first"` the channel axis of all four is 1.

    Args:
        num_heads: Number of query heads.
        data_format: "channels_last" or "channels_first"; defaults to
            `keras.config.image_data_format()`.
    """

    ARGUMENTS = ("num_heads", "data_format")

    def __init__(self, num_heads, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(
                "`num_heads` must be a positive integer. "
                f"Received: num_heads={num_heads!r}"
            )
        self.num_heads = num_heads
        self.data_format = _data_format(data_format)

    def _channels(self, shape):
        return shape[1] if self.data_format == "channels_first" else shape[-1]

    def build(self, input_shape):
        query_shape, key_shape, _ = input_shape
        query_channels = self._channels(query_shape)
        key_dim = self._channels(key_shape)
        if query_channels != self.num_heads * key_dim:
            raise ValueError(
                f"The query must have num_heads * key_dim = {self.num_heads} * "
                f"{key_dim} channels. Received: query shape {query_shape}, "
                f"key shape {key_shape}"
            )

    def call(self, inputs):
        query, key, value = inputs
        if self.data_format == "channels_first":
            query, key, value = (
                ops.transpose(t, (0, 2, 3, 1)) for t in (query, key, value)
            )
        batch, rows, cols = (ops.shape(query)[i] for i in range(3))
        key_dim, value_dim = key.shape[-1], value.shape[-1]
        q = ops.reshape(query, (batch, -1, self.num_heads, key_dim))
        k = ops.reshape(key, (batch, -1, key_dim))
        v = ops.reshape(value, (batch, -1, value_dim))
        logits = ops.einsum("blhd,bmd->blhm", q * (key_dim ** -0.5), k)
        weights = ops.softmax(logits, axis=-1)
        out = ops.einsum("blhm,bmd->blhd", weights, v)
        out = ops.reshape(out, (batch, rows, cols, self.num_heads * value_dim))
        if self.data_format == "channels_first":
            out = ops.transpose(out, (0, 3, 1, 2))
        return out

    def count_macs(self):
        """Multiply-accumulates of the two attention matmuls per image
        (queries x keys, weights x values); see `keras_mobilenets.count_macs`."""
        query, key, value = (t.shape for t in self.input)
        channels = 1 if self.data_format == "channels_first" else -1
        spatial = [d for i, d in enumerate(query[1:], 1)
                   if i != (channels % len(query))]
        kv_spatial = [d for i, d in enumerate(key[1:], 1)
                      if i != (channels % len(key))]
        queries = self.num_heads * spatial[0] * spatial[1]
        keys = kv_spatial[0] * kv_spatial[1]
        return queries * keys * (key[channels] + value[channels])

    def torch_step(self, ndim):
        """This layer in the PyTorch backend's inference plan (`fast.plan`):
        PyTorch's fused attention, channels last; else None (Keras' call)."""
        if self.data_format != "channels_last":
            return None
        return torch_steps.attention(self.num_heads)

    def compute_output_shape(self, input_shape):
        query_shape, _, value_shape = input_shape
        channels = self.num_heads * self._channels(value_shape)
        if self.data_format == "channels_first":
            return (query_shape[0], channels) + tuple(query_shape[2:])
        return tuple(query_shape[:-1]) + (channels,)


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class BlurPool2D(_ArgumentsLayer):
    """Blurs each channel with a fixed binomial filter, then subsamples
    (Zhang, "Making Convolutional Networks Shift-Invariant Again",
    https://arxiv.org/abs/1904.11486), as timm's `BlurPool2d` with
    `pad_mode="constant"` (its anti-aliasing layer "blurpc").

    Each channel is zero-padded by `(stride - 1 + filter_size - 1) // 2` on
    every side (timm's `get_padding`) and convolved, at `stride`, with the
    outer product of the binomial coefficients of `filter_size - 1` divided
    by their sum (for 3: [1, 2, 1] / 4 each way). The filter is a constant:
    the layer has no weights, and its config is its arguments.

    Args:
        filter_size: Side of the filter, at least 2.
        stride: Subsampling factor, at least 1.
        data_format: "channels_last" or "channels_first"; defaults to
            `keras.config.image_data_format()`.
    """

    ARGUMENTS = ("filter_size", "stride", "data_format")

    def __init__(self, filter_size=3, stride=2, data_format=None, **kwargs):
        super().__init__(**kwargs)
        for arg, value, low in (("filter_size", filter_size, 2),
                                ("stride", stride, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"`{arg}` must be an integer >= {low}. "
                                 f"Received: {arg}={value!r}")
        self.filter_size = filter_size
        self.stride = stride
        self.data_format = _data_format(data_format)

    @property
    def padding(self):
        return (self.stride - 1 + self.filter_size - 1) // 2

    def _axes(self):
        """(channel axis, spatial axes) of a 4D tensor."""
        return (1, (2, 3)) if self.data_format == "channels_first" else (3, (1, 2))

    def call(self, inputs):
        channel_axis, spatial = self._axes()
        n = self.filter_size
        coeffs = np.array([math.comb(n - 1, k) for k in range(n)], "float64")
        coeffs /= coeffs.sum()
        kernel = np.tile(np.outer(coeffs, coeffs)[:, :, None, None],
                         (1, 1, inputs.shape[channel_axis], 1))
        pad = [[0, 0]] * 4
        for axis in spatial:
            pad[axis] = [self.padding, self.padding]
        return ops.depthwise_conv(
            ops.pad(inputs, pad), ops.convert_to_tensor(kernel, inputs.dtype),
            strides=self.stride, padding="valid",
            data_format=self.data_format)

    def count_macs(self):
        """A depthwise convolution's: filter_size ** 2 per output element."""
        return math.prod(self.output.shape[1:]) * self.filter_size ** 2

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis in self._axes()[1]:
            if shape[axis] is not None:
                shape[axis] = (shape[axis] + 2 * self.padding
                               - self.filter_size) // self.stride + 1
        return tuple(shape)


@keras.saving.register_keras_serializable(package="keras_mobilenets")
def gelu_tanh(x):
    """GELU in its tanh approximation, PyTorch's `nn.GELU(approximate=
    "tanh")` (MobileNetV5's activation): `layers.Activation(gelu_tanh)`
    saves and loads by this registered name."""
    return ops.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class NearestResize(_ArgumentsLayer):
    """Resizes feature maps to `size` (rows, cols) by nearest neighbour with
    PyTorch's rule (`F.interpolate(mode="nearest")`: output index i reads
    input index floor(i * in / out)), which timm's MobileNetV5 adapter
    uses and `keras.layers.Resizing` (half-pixel centres) does not.

    Args:
        size: (rows, cols) of the output.
        data_format: "channels_last" or "channels_first"; defaults to
            `keras.config.image_data_format()`.
    """

    ARGUMENTS = ("size", "data_format")

    def __init__(self, size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        size = tuple(size) if isinstance(size, (list, tuple)) else size
        if (not isinstance(size, tuple) or len(size) != 2 or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 1
                for s in size)):
            raise ValueError("`size` must be two positive integers (rows, "
                             f"cols). Received: size={size!r}")
        self.size = size
        self.data_format = _data_format(data_format)

    def _spatial(self):
        return (2, 3) if self.data_format == "channels_first" else (1, 2)

    def build(self, input_shape):
        for axis in self._spatial():
            if input_shape[axis] is None:
                raise ValueError(
                    "NearestResize needs a known input size. Received: "
                    f"input_shape={input_shape}")

    def call(self, inputs):
        for axis, out in zip(self._spatial(), self.size):
            size = inputs.shape[axis]
            if size != out:
                # PyTorch's float32 scale, as its kernel computes it.
                scale = np.float32(size) / np.float32(out)
                index = np.minimum(np.floor(np.arange(out, dtype=np.float32)
                                            * scale), size - 1)
                inputs = ops.take(inputs, index.astype("int32"), axis=axis)
        return inputs

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, out in zip(self._spatial(), self.size):
            shape[axis] = out
        return tuple(shape)


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class RMSNorm2D(_ArgumentsLayer):
    """Root-mean-square normalisation over the channels of each pixel,
    times a learned per-channel `gamma` (Zhang and Sennrich,
    https://arxiv.org/abs/1910.07467), as timm's `RmsNorm2d` (MobileNetV5):
    `x * rsqrt(mean(x ** 2 over channels) + epsilon) * gamma`.
    `keras.layers.RMSNormalization` computes the same, but under PyTorch
    it accepts only the last axis (channels last).

    Args:
        epsilon: Added to the mean square. timm's default is 1e-6.
        axis: The channel axis: -1 (channels last) or 1 (channels first).
    """

    ARGUMENTS = ("epsilon", "axis")

    def __init__(self, epsilon=1e-6, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(epsilon, bool) or not isinstance(
                epsilon, (int, float)) or epsilon < 0:
            raise ValueError("`epsilon` must be a number >= 0. Received: "
                             f"epsilon={epsilon!r}")
        if axis not in (-1, 1):
            raise ValueError(
                f"`axis` must be -1 or 1. Received: axis={axis!r}")
        self.epsilon = epsilon
        self.axis = axis

    def build(self, input_shape):
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(
                "RMSNorm2D needs a known number of channels on axis "
                f"{self.axis}. Received: input_shape={input_shape}")
        self.gamma = self.add_weight(shape=(channels,), initializer="ones",
                                     name="gamma")

    def call(self, inputs):
        mean_square = ops.mean(ops.square(inputs), axis=self.axis,
                               keepdims=True)
        shape = [1] * len(inputs.shape)
        shape[self.axis] = -1
        gamma = ops.reshape(ops.cast(self.gamma, inputs.dtype), shape)
        return inputs * ops.rsqrt(mean_square + self.epsilon) * gamma

    def compute_output_shape(self, input_shape):
        return input_shape
