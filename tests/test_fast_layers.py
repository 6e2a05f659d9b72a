"""The faster convolutions give Keras' own results, and are the ones used."""

import keras
import numpy as np
import pytest

from keras_mobilenets import layers as km_layers
from keras_mobilenets.fast.layers import fast_path as _fast_path
from keras_mobilenets.fast.shifted import live_window

BACKEND = keras.backend.backend()
# What each backend is expected to run on this (CPU) machine.
EXPECTED_PATH = {"jax": "shifted", "torch": "torch_nhwc",
                 "tensorflow": "tf_live"}

DEPTHWISE_CASES = [
    # (kernel, stride, padding, multiplier, input rows x cols, bias, dilation)
    (3, 1, "same", 1, (9, 9), False, 1),
    (3, 2, "same", 1, (9, 10), True, 1),
    (3, 2, "valid", 1, (10, 9), False, 1),
    (5, 1, "same", 2, (8, 11), True, 1),
    (5, 2, "same", 1, (7, 7), False, 1),
    (7, 1, "valid", 1, (12, 12), True, 1),
    (3, 1, "same", 1, (1, 1), False, 1),
    # Dilated (output_stride 16 and 8), stride 1 as every model runs them;
    # at 4 on 3 rows only the middle row of taps reads the map.
    (3, 1, "same", 1, (9, 9), False, 2),
    (3, 1, "same", 2, (8, 11), True, 2),
    (5, 1, "same", 1, (12, 10), True, 2),
    (3, 1, "same", 1, (9, 9), True, 4),
    (5, 1, "same", 1, (3, 13), False, 4),
    (3, 1, "valid", 1, (12, 11), False, 4),
]


def _pair(cls, ref_cls, kwargs, shape, seed=0):
    """Our layer and Keras' twin with the same random weights, built."""
    ours, ref = cls(**kwargs), ref_cls(**kwargs)
    ours.build(shape)
    ref.build(shape)
    rng = np.random.default_rng(seed)
    for a, b in zip(ours.weights, ref.weights):
        value = rng.normal(0.0, 1.0, tuple(a.shape)).astype("float32")
        a.assign(value)
        b.assign(value)
    return ours, ref


@pytest.mark.parametrize(
    "kernel, stride, padding, multiplier, size, bias, dilation", DEPTHWISE_CASES)
def test_depthwise_equals_keras(kernel, stride, padding, multiplier, size, bias,
                                dilation):
    shape = (2, *size, 6)
    ours, ref = _pair(km_layers.DepthwiseConv2D, keras.layers.DepthwiseConv2D,
                      dict(kernel_size=kernel, strides=stride, padding=padding,
                           depth_multiplier=multiplier, use_bias=bias,
                           activation="relu6", dilation_rate=dilation), shape)
    x = np.random.default_rng(1).normal(0, 1, shape).astype("float32")
    got, want = (keras.ops.convert_to_numpy(layer(x)) for layer in (ours, ref))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    (1, 1, "same", 1), (1, 2, "valid", 1), (3, 2, "same", 1), (3, 1, "valid", 1),
    (2, 2, "same", 1),
    # Dilated (DeepLab's ASPP): all taps, a middle row of them (9 rows at
    # 9), the middle tap alone (a matrix product), 'valid'.
    (3, 1, "same", 2), (3, 1, "same", 4), (3, 1, "same", 9), (3, 1, "same", 12),
    (3, 1, "valid", 2), (5, 1, "same", 2)])
def test_conv_equals_keras(kernel, stride, padding, dilation):
    shape = (2, 9, 10, 5)
    ours, ref = _pair(km_layers.Conv2D, keras.layers.Conv2D,
                      dict(filters=7, kernel_size=kernel, strides=stride,
                           padding=padding, use_bias=True,
                           dilation_rate=dilation), shape)
    x = np.random.default_rng(2).normal(0, 1, shape).astype("float32")
    got, want = (keras.ops.convert_to_numpy(layer(x)) for layer in (ours, ref))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)



def _gradients(layer, x, weights):
    """Gradients of `sum(layer(x) * weights)` with respect to `x` and the
    layer's trainable variables, by the active backend's autodiff."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * weights)
        grads = tape.gradient(loss, [x, *layer.trainable_variables])
    elif BACKEND == "jax":
        import jax

        def loss(variables, x):
            out = layer.stateless_call(variables, [], x)[0]
            return keras.ops.sum(out * weights)

        variables = [v.value for v in layer.trainable_variables]
        dv, dx = jax.grad(loss, (0, 1))(variables, x)
        grads = [dx, *dv]
    else:
        import torch

        x = torch.tensor(x, requires_grad=True)
        (layer(x) * torch.tensor(weights)).sum().backward()
        grads = [x.grad, *(v.value.grad for v in layer.trainable_variables)]
    return [keras.ops.convert_to_numpy(g) for g in grads]


@pytest.mark.parametrize("cls_name", ["Conv2D", "DepthwiseConv2D"])
@pytest.mark.parametrize("dilation", [12, 24, 36])
def test_deeplab_rates_on_a_small_map_equal_keras(cls_name, dilation):
    """DeepLabV3's ASPP rates at output stride 16 on 512x512 (a 32x32 map,
    'same'; at 36 only the middle tap reads the map), forward and backward:
    on TensorFlow these run through `tf_ops.conv` (TensorFlow's dilated
    Conv2D op and our gradients), elsewhere through each backend's fast
    kernels."""
    shape = (2, 32, 32, 8)
    kwargs = dict(kernel_size=3, padding="same", dilation_rate=dilation)
    if cls_name == "Conv2D":
        kwargs["filters"] = 6
    ours, ref = _pair(getattr(km_layers, cls_name),
                      getattr(keras.layers, cls_name), kwargs, shape)
    x = np.random.default_rng(5).normal(0, 1, shape).astype("float32")
    got, want = (keras.ops.convert_to_numpy(layer(x)) for layer in (ours, ref))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5,
                               atol=1e-5 * np.abs(want).max())
    weights = np.random.default_rng(6).normal(0, 1, got.shape).astype("float32")
    grads = [_gradients(layer, x, weights) for layer in (ours, ref)]
    assert len(grads[0]) == len(grads[1]) == 3  # input, kernel, bias
    for g, w in zip(*grads):
        assert g.shape == w.shape and np.abs(w).max() > 0
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * np.abs(w).max())
    if BACKEND == "tensorflow":
        from keras_mobilenets.fast import tf_ops

        assert tf_ops.applies(ours, shape[1:3], cls_name == "DepthwiseConv2D") \
            == (cls_name == "Conv2D" or dilation == 36)

@pytest.mark.parametrize("center, scale", [(True, True), (False, False)])
def test_batch_norm_equals_keras(center, scale):
    shape = (2, 5, 6, 8)
    kwargs = dict(center=center, scale=scale, epsilon=1e-3, momentum=0.9)
    ours, ref = km_layers.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    rng = np.random.default_rng(4)
    for layer in (ours, ref):
        layer.build(shape)
    for a, b in zip(ours.weights, ref.weights):
        value = rng.uniform(0.5, 2.0, tuple(a.shape)).astype("float32")
        a.assign(value)
        b.assign(value)
    x = rng.normal(0, 1, shape).astype("float32")
    for training in (False, None):
        got, want = (keras.ops.convert_to_numpy(layer(x, training=training))
                     for layer in (ours, ref))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # Training normalises by the batch and updates the moving statistics,
    # as Keras does; also with one value per channel (Keras' own there).
    for batch in (x, x[:1, :1, :1]):
        got, want = (keras.ops.convert_to_numpy(layer(batch, training=True))
                     for layer in (ours, ref))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        for a, b in zip(ours.non_trainable_weights, ref.non_trainable_weights):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(a),
                                       keras.ops.convert_to_numpy(b), rtol=1e-6)


def test_the_fast_path_is_the_one_taken():
    layer = km_layers.DepthwiseConv2D(3, padding="same")
    x = keras.ops.zeros((1, 8, 8, 4))
    layer.build(x.shape)
    assert _fast_path(layer, x) == EXPECTED_PATH[BACKEND]
    for dilated in (km_layers.DepthwiseConv2D(3, padding="same", dilation_rate=2),
                    km_layers.Conv2D(4, 3, padding="same", dilation_rate=2)):
        dilated.build(x.shape)
        assert _fast_path(dilated, x) == EXPECTED_PATH[BACKEND]


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch's NHWC kernels")
@pytest.mark.parametrize("cls_name, kwargs", [
    ("DepthwiseConv2D", dict(kernel_size=3)),
    ("Conv2D", dict(filters=7, kernel_size=3)),
    ("Conv2D", dict(filters=7, kernel_size=1))])
def test_torch_strided_valid_convolution_copies_no_input(monkeypatch, cls_name,
                                                         kwargs):
    """MobileNetV4's explicitly padded stride-2 convolutions: the last row
    and column of an even map, which no stride reads, are left to
    `F.conv2d` rather than cropped by a padded copy of the map."""
    import torch.nn.functional as F

    shape = (2, 10, 12, 5)
    ours, ref = _pair(getattr(km_layers, cls_name), getattr(keras.layers, cls_name),
                      dict(strides=2, padding="valid", **kwargs), shape)
    x = np.random.default_rng(4).normal(0, 1, shape).astype("float32")
    want = keras.ops.convert_to_numpy(ref(x))

    def no_pad(*args, **kwargs):
        raise AssertionError("F.pad called: a copy of the input")

    monkeypatch.setattr(F, "pad", no_pad)
    got = keras.ops.convert_to_numpy(ours(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch", reason="the PyTorch inference plan")
@pytest.mark.parametrize("size", [(20, 24), (21, 19)])
def test_torch_plan_pads_strided_convolutions_without_a_copy(monkeypatch, size):
    """The plan folds MobileNetV4's ZeroPadding2D(1) into its stride-2
    convolutions as PyTorch's own padding: on an even map the last zero
    row is never read, and must not turn the padding into a padded copy
    of the map (`F.pad`: 35 ms of a V4 Conv-S inference at batch 32);
    keras.applications' `correct_pad` (one zero after) before a depthwise
    convolution neither (a zero tap added to its kernel)."""
    import torch.nn.functional as F

    from keras_mobilenets import Model

    inputs = keras.Input((*size, 5))
    x = keras.layers.ZeroPadding2D(1)(inputs)
    x = km_layers.DepthwiseConv2D(3, strides=2, padding="valid")(x)
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = km_layers.DepthwiseConv2D(3, strides=2, padding="valid")(x)
    x = keras.layers.ZeroPadding2D(1)(x)
    outputs = km_layers.Conv2D(7, 3, strides=2, padding="valid")(x)
    model = Model(inputs, outputs)
    x = np.random.default_rng(5).normal(0, 1, (2, *size, 5)).astype("float32")
    want = keras.ops.convert_to_numpy(keras.Model(inputs, outputs)(x))

    def no_pad(*args, **kwargs):
        raise AssertionError("F.pad called: a copy of the input")

    monkeypatch.setattr(F, "pad", no_pad)
    got = model.predict_on_batch(x)
    assert getattr(model, "_km_torch_plan", None) is not None
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch's NHWC kernels")
def test_torch_padding_without_copies_reads_the_same_values():
    """`torch_ops.conv2d` (PyTorch's symmetric padding where it
    gives the same outputs, a zero tap added to a depthwise kernel for one
    zero more on one side, an explicit pad otherwise) equals F.conv2d of the
    explicitly padded map, over sizes, kernels, strides, dilations and
    every padding up to 3, depthwise and full."""
    import itertools

    import torch
    import torch.nn.functional as F

    from keras_mobilenets.fast import torch_ops

    torch.manual_seed(0)
    grown = 0
    for (rows, k, stride, dilation, (top, bottom), left, right,
         grouped) in itertools.product(
            (5, 6, 8), (1, 3, 5), (1, 2), (1, 2), ((0, 1), (1, 0), (1, 1),
                                                   (1, 2), (0, 3), (2, 2)),
            (0, 1), (0, 2), (True, False)):
        if stride > 1 and dilation > 1 or min(rows + top + bottom,
                                               7 + left + right) < (k - 1) * dilation + 1:
            continue
        x = torch.randn(2, 4, rows, 7).contiguous(memory_format=torch.channels_last)
        weight = torch.randn(4 if grouped else 3, 1 if grouped else 4, k, k)
        groups = 4 if grouped else 1
        want = F.conv2d(F.pad(x, (left, right, top, bottom)), weight, None,
                        stride, 0, dilation, groups)
        got = torch_ops.conv2d(x, weight, None, (stride, stride),
                               ((top, bottom), (left, right)),
                               (dilation, dilation), groups)
        grown += torch_ops._geometry(
            (rows, 7), (k, k), (stride, stride), ((top, bottom), (left, right)),
            (dilation, dilation), grouped)[4] is not None
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5,
                                   atol=1e-5)
    assert grown > 50  # the added tap was taken, not only the other roads


def test_live_window_leaves_out_the_taps_that_only_read_padding():
    # DeepLab's rates at output stride 16 on 512x512 (a 32x32 map).
    assert live_window((32, 32), (3, 3), (1, 1), "same", (36, 36)) == (
        ((1, 1), (1, 1)), ((0, 0), (0, 0)))
    assert live_window((32, 32), (3, 3), (1, 1), "same", (24, 24)) == (
        ((0, 2), (0, 2)), ((24, 24), (24, 24)))
    # 9 rows at dilation 9: the middle row; 10 columns: all three taps.
    assert live_window((9, 10), (3, 3), (1, 1), "same", (9, 9)) == (
        ((1, 1), (0, 2)), ((0, 0), (9, 9)))


@pytest.mark.parametrize("stride, dilation", [(2, 1), (1, 2), (1, 4)])
def test_training_step_equals_keras(stride, dilation):
    """One SGD step through each: the fast kernels differentiate the same
    (dilated too), and BatchNormalization updates its moving statistics the
    same."""
    def model(cls_dw, cls_conv, cls_bn):
        inputs = keras.Input((10, 10, 4))
        x = cls_dw(3, strides=stride, padding="same", use_bias=False,
                   dilation_rate=dilation, name="dw")(inputs)
        # No bias: BatchNorm cancels its gradient, which is rounding noise.
        x = cls_conv(5, 3, padding="same", dilation_rate=dilation,
                     use_bias=False, name="conv")(x)
        x = cls_conv(6, 1, name="pw")(x)
        x = cls_bn(momentum=0.9, name="bn")(x)
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))

    ours = model(km_layers.DepthwiseConv2D, km_layers.Conv2D,
                 km_layers.BatchNormalization)
    ref = model(keras.layers.DepthwiseConv2D, keras.layers.Conv2D,
                keras.layers.BatchNormalization)
    ref.set_weights(ours.get_weights())
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (4, 10, 10, 4)).astype("float32")
    y = rng.normal(0, 1, (4, 6)).astype("float32")
    for m in (ours, ref):
        m.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        m.train_on_batch(x, y)
    # atol: the biases before BatchNorm get a gradient of rounding noise
    # (BatchNorm cancels them), about 1e-6 after the step.
    for a, b in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert not np.allclose(ours.get_weights()[0], model(
        km_layers.DepthwiseConv2D, km_layers.Conv2D,
        km_layers.BatchNormalization).get_weights()[0])


def test_config_round_trip_keeps_the_class():
    layer = km_layers.DepthwiseConv2D(5, strides=2, depth_multiplier=2)
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(clone) is km_layers.DepthwiseConv2D
    assert clone.get_config() == layer.get_config()


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's own gradients of the fast kernels (custom_vjp); other backends differentiate their kernels themselves")
@pytest.mark.parametrize("cls_name, kwargs, shape", [
    # Large enough that the gradients run a few images at a time (a scan).
    ("DepthwiseConv2D", dict(kernel_size=5, padding="same"), (8, 40, 40, 48)),
    ("DepthwiseConv2D", dict(kernel_size=3, strides=2, padding="valid",
                             depth_multiplier=2), (6, 41, 40, 24)),
    ("DepthwiseConv2D", dict(kernel_size=3, padding="same",
                             dilation_rate=2), (4, 48, 48, 64)),
    ("Conv2D", dict(filters=16, kernel_size=3, strides=2, padding="same"),
     (8, 64, 64, 16)),
    ("Conv2D", dict(filters=8, kernel_size=5, padding="valid"), (3, 23, 20, 6)),
])
@pytest.mark.parametrize("input_gradient", [True, False])
def test_jax_gradients_equal_keras(cls_name, kwargs, shape, input_gradient):
    """Our JAX kernels' own gradients (cache-blocked, phase by phase) equal
    JAX's gradients of Keras' layers: of the kernel, and of the input where
    it is asked for (a stem's is not: its convolution then skips it)."""
    import jax

    ours, ref = _pair(getattr(km_layers, cls_name),
                      getattr(keras.layers, cls_name),
                      dict(kwargs, use_bias=False), shape)
    x = np.random.default_rng(2).normal(0, 1, shape).astype("float32")
    grads = {}
    for name, layer in (("ours", ours), ("keras", ref)):
        def loss(kernel, x, layer=layer):
            out = layer.stateless_call([kernel], [], x)[0]
            return 0.5 * keras.ops.sum(out * out)

        argnums = (0, 1) if input_gradient else 0
        grads[name] = jax.tree.leaves(jax.jit(jax.grad(loss, argnums))(
            keras.ops.convert_to_tensor(layer.kernel), x))
    assert len(grads["ours"]) == (2 if input_gradient else 1)
    for got, want in zip(grads["ours"], grads["keras"]):
        scale = float(np.max(np.abs(want)))
        np.testing.assert_allclose(np.asarray(got), np.asarray(want),
                                   rtol=0, atol=2e-6 * scale)


@pytest.mark.skipif(BACKEND != "jax", reason="a switch of the JAX kernels' own gradients")
def test_forward_mode_runs_with_jax_s_own_gradients(monkeypatch):
    """`jax.jvp` (forward mode) needs JAX's autodiff of the plain kernels:
    refused with the custom gradients, equal to Keras' layer without."""
    import jax

    from keras_mobilenets.fast import shifted

    shape = (2, 9, 9, 4)
    ours, ref = _pair(km_layers.DepthwiseConv2D, keras.layers.DepthwiseConv2D,
                      dict(kernel_size=3, strides=2, padding="same"), shape)
    x = np.random.default_rng(4).normal(0, 1, shape).astype("float32")
    direction = np.ones(shape, "float32")

    def tangent(layer):
        return np.asarray(jax.jvp(layer, (x,), (direction,))[1])

    with pytest.raises(TypeError,
                       match="(?s)forward-mode.*CUSTOM_GRADIENTS = False"):
        tangent(ours)
    monkeypatch.setattr(shifted, "CUSTOM_GRADIENTS", False)
    np.testing.assert_allclose(tangent(ours), tangent(ref), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's export with a symbolic batch")
def test_jax_gradients_trace_with_a_symbolic_batch():
    """Keras' SavedModel export on JAX traces gradients with a symbolic
    batch (jax2tf): the fast kernels then keep JAX's own gradients, equal
    to the custom ones of a concrete batch."""
    import jax
    from jax import export

    shape = (10, 10, 4)
    depthwise = km_layers.DepthwiseConv2D(3, strides=2, padding="same")
    conv = km_layers.Conv2D(5, 3, strides=2, padding="same")
    for layer in (depthwise, conv):
        layer.build((None, *shape))

    def loss(x):
        return keras.ops.sum(depthwise(x) ** 2) + keras.ops.sum(conv(x) ** 2)

    (batch,) = export.symbolic_shape("b")
    exported = export.export(jax.jit(jax.grad(loss)))(
        jax.ShapeDtypeStruct((batch, *shape), "float32"))
    x = np.random.default_rng(5).normal(0, 1, (3, *shape)).astype("float32")
    np.testing.assert_allclose(np.asarray(exported.call(x)),
                               np.asarray(jax.jit(jax.grad(loss))(x)),
                               rtol=1e-5, atol=1e-5)
