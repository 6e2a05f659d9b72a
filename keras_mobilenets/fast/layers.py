"""Keras' Conv2D, DepthwiseConv2D and BatchNormalization (same arguments,
variables, config and registered names as ever) with faster CPU kernels
where a backend's own are slow, chosen per call (`fast_path`)."""

import math

import keras
from keras import layers
from keras import ops

from . import shifted, tf_ops, torch_ops


def fast_path(layer, inputs):
    """Which faster kernels apply to this float32 call: "shifted" (JAX on
    CPU: depthwise as shifted products, 1x1 as matmul), "torch_nhwc" (PyTorch
    on CPU), "tf_live" (TensorFlow on CPU: `tf_ops.conv` where
    `tf_ops.applies`, else Keras' own) or None (Keras' own)."""
    # Mixed precision keeps Keras' kernels, which accumulate half-precision
    # inputs in float32 (a sum of bfloat16 products does not).
    if (layer.data_format != "channels_last"
            or layer.padding not in ("same", "valid")
            or any(d is None for d in inputs.shape[1:3])
            or keras.backend.standardize_dtype(inputs.dtype) != "float32"):
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return "shifted" if jax.default_backend() == "cpu" else None
    if backend == "torch" and getattr(inputs, "device", None) is not None:
        return "torch_nhwc" if inputs.device.type == "cpu" else None
    if backend == "tensorflow":
        import tensorflow as tf

        return None if tf.config.list_logical_devices("GPU") else "tf_live"
    return None


def finish(layer, outputs, add_bias=True):
    """The layer's bias (`add_bias=False` where the convolution added it)
    and activation of its convolution's outputs."""
    if add_bias and layer.use_bias:
        outputs = outputs + layer.bias
    if layer.activation is not None:
        return layer.activation(outputs)
    return outputs


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class Conv2D(layers.Conv2D):
    """`keras.layers.Conv2D` (same arguments, variables and config) with
    faster CPU kernels: on PyTorch NHWC tensors are convolved without Keras'
    two layout copies per call (`torch_ops.conv_nhwc`), on JAX 1x1
    convolutions are matrix products (`shifted.pointwise_matmul`), dilated
    ones skip the taps that only read padding, and the others train
    through patch matrix products (`shifted.conv_live`); on TensorFlow
    dilated ones, and those with taps that only read padding, run through
    their live taps in TensorFlow's dilated Conv2D op (`tf_ops.conv`).
    Elsewhere, and for grouped or channels_first convolutions, it is
    Keras' own.
    """

    def call(self, inputs):
        path = fast_path(self, inputs) if self.groups == 1 else None
        if path == "tf_live" and tf_ops.applies(self, inputs.shape[1:3],
                                                depthwise=False):
            return finish(self, tf_ops.conv(
                inputs, ops.convert_to_tensor(self.kernel), self.strides,
                self.padding, self.dilation_rate))
        if path == "torch_nhwc":
            bias = ops.convert_to_tensor(self.bias) if self.use_bias else None
            return finish(self, torch_ops.conv_nhwc(
                inputs, ops.convert_to_tensor(self.kernel), bias,
                self.strides, self.padding, depthwise=False,
                dilation=self.dilation_rate), add_bias=False)
        if path == "shifted":
            kernel = ops.convert_to_tensor(self.kernel)
            if (tuple(self.kernel_size) == (1, 1)
                    and tuple(self.dilation_rate) == (1, 1)):
                outputs = shifted.pointwise_matmul(inputs, kernel, self.strides)
            else:
                outputs = shifted.conv_live(inputs, kernel, self.strides,
                                            self.padding, self.dilation_rate)
            return finish(self, outputs)
        return super().call(inputs)


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class DepthwiseConv2D(layers.DepthwiseConv2D):
    """`keras.layers.DepthwiseConv2D` (same arguments, variables and config)
    with faster CPU kernels where the backend's own is slow: on JAX a sum of
    shifted products instead of XLA's grouped convolution
    (`shifted.depthwise_shifted`), on PyTorch the convolution without
    layout copies (`torch_ops.conv_nhwc`), dilated or not; on TensorFlow,
    where taps only read padding, the kernel cut to the others
    (`tf_ops.conv`). GPUs, channels_first convolutions and TensorFlow's
    other calls use Keras' own. Outputs agree with Keras'
    to float32 rounding (summation order differs).
    """

    def call(self, inputs):
        path = fast_path(self, inputs)
        if path == "tf_live" and tf_ops.applies(self, inputs.shape[1:3],
                                                depthwise=True):
            return finish(self, tf_ops.conv(
                inputs, ops.convert_to_tensor(self.kernel), self.strides,
                self.padding, self.dilation_rate, depthwise=True))
        if path not in ("torch_nhwc", "shifted"):
            return super().call(inputs)
        kernel = ops.convert_to_tensor(self.kernel)
        if path == "torch_nhwc":
            bias = ops.convert_to_tensor(self.bias) if self.use_bias else None
            return finish(self, torch_ops.conv_nhwc(
                inputs, kernel, bias, self.strides, self.padding,
                depthwise=True, dilation=self.dilation_rate), add_bias=False)
        return finish(self, shifted.depthwise_shifted(
            inputs, kernel, self.strides, self.padding, self.dilation_rate))


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class BatchNormalization(layers.BatchNormalization):
    """`keras.layers.BatchNormalization` (same arguments, variables and
    config) that, on the PyTorch backend on CPU, normalises a float32 NHWC
    tensor in PyTorch's fused kernels: in inference in one pass
    (`torch_ops.batch_norm_nhwc`), in training with its fused gradient
    and Keras' update of the moving statistics
    (`torch_ops.batch_norm_train_nhwc`). Masks, renorm, synchronized,
    other dtypes, axes and backends: Keras' own.
    """

    def call(self, inputs, training=None, mask=None):
        if (mask is None and not self.renorm and not self.synchronized
                and keras.backend.backend() == "torch"
                and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and getattr(inputs, "device", None) is not None
                and inputs.device.type == "cpu"
                and keras.backend.standardize_dtype(inputs.dtype) == "float32"):
            def value(variable):
                return ops.cast(ops.convert_to_tensor(variable), "float32")

            gamma = value(self.gamma) if self.scale else None
            beta = value(self.beta) if self.center else None
            if not (training and self.trainable):
                return torch_ops.batch_norm_nhwc(
                    inputs, value(self.moving_mean),
                    value(self.moving_variance), gamma, beta, self.epsilon)
            if math.prod(inputs.shape[:3]) < 2:
                # One value per channel: PyTorch refuses to train on it.
                return super().call(inputs, training=training, mask=mask)
            outputs, mean, variance = torch_ops.batch_norm_train_nhwc(
                inputs, gamma, beta, self.epsilon)
            for moving, batch in ((self.moving_mean, mean),
                                  (self.moving_variance, variance)):
                # Keras' update, in Keras' order of operations.
                moving.assign(value(moving) * self.momentum
                              + batch * (1.0 - self.momentum))
            return outputs
        return super().call(inputs, training=training, mask=mask)
