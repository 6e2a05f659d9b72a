"""Quantization-aware training (`keras_mobilenets.quantization`): the int8
LiteRT file written from a QAT model computes what the QAT model simulates
(in-process under TensorFlow; through the child-process export under JAX
and PyTorch), `.keras` files keep ranges and facts, gradients pass through
the fake quantization, and bad input is an error that names it."""

import keras
import numpy as np
import pytest

import keras_mobilenets as km
from conftest import model_outputs, randomize
from keras_mobilenets import export as km_export
from keras_mobilenets import quantization

BACKEND = keras.backend.backend()
SIZE = 64
# LiteRT's int8 file computes the simulation's int8 values, except where
# float32 lands next to a rounding boundary (then one step the other way,
# rarely: measured on V1 0.025 steps on average at the logits) and where
# LiteRT's int8 hard-swish kernel rounds in its own fixed point (V3: from
# its first hard-swish blocks on, ~2% of values one step off, which later
# layers carry: measured 1.5 steps on average at the logits of random
# weights). In units of the logits' int8 step, (at most, on average):
STEPS = {"V1": (2, 0.1), "V3Small": (8, 2)}
# One small model per activation kind: ReLU6 (V1), hard-swish, SE and
# in-model Rescaling (V3-Small). The simulation's ops are the backend's;
# the graph rewriting and the export are backend-free: off TensorFlow,
# V1 only, and one child-process export (JAX's) starts a TensorFlow
# process for the file.
MODELS = {"V1": (km.MobileNet, dict(alpha=0.25)),
          "V3Small": (km.MobileNetV3Small, dict(alpha=0.75))}
EXPORTED = {"tensorflow": list(MODELS), "jax": ["V1"]}.get(BACKEND, [])
SAVED = "V3Small" if BACKEND == "tensorflow" else "V1"


def images(model_name, count, seed):
    """Generated inputs in the model's own input range."""
    x = np.random.default_rng(seed).uniform(0, 255, (count, SIZE, SIZE, 3))
    x = x.astype("float32")
    return x / 127.5 - 1.0 if model_name == "V1" else x


def float_model(name):
    builder, kwargs = MODELS[name]
    model = builder(weights=None, input_shape=(SIZE, SIZE, 3), classes=10,
                    classifier_activation=None, **kwargs)
    randomize(model)  # real signal in the logits
    return model


@pytest.fixture(scope="module")
def calibrated():
    cache = {}

    def get(name):
        if name not in cache:
            model = float_model(name)
            qat = quantization.prepare(model)
            quantization.calibrate(qat, images(name, 32, 0), batch_size=16)
            cache[name] = model, qat
        return cache[name]

    return get


def output_step(qat):
    """The int8 step of the model's output (its last quantizer's)."""
    last = [layer for layer in qat.layers
            if isinstance(layer, quantization.ActivationQuantizer)][-1]
    low, high = (float(v) for v in last.range())
    return (high - low) / 255


@pytest.mark.skipif(not EXPORTED, reason="one child-process export is "
                    "enough (JAX's)")
@pytest.mark.parametrize("name", EXPORTED or ["V1"])
def test_litert_file_computes_the_simulation(name, calibrated, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    _, qat = calibrated(name)
    x = images(name, 16, 1)
    want = model_outputs(qat, x)
    path = str(tmp_path / "model_int8.tflite")
    assert quantization.export_litert(qat, path) == path
    interpreter = Interpreter(model_path=path)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [len(x), SIZE, SIZE, 3])
    interpreter.allocate_tensors()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    convolutions = [op for op in interpreter._get_ops_details()
                    if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert convolutions
    for op in convolutions:  # int8 in, int8 weights, int8 out
        for i in (*op["inputs"][:2], *op["outputs"]):
            assert tensors[i]["dtype"] == np.int8, op
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    step = output_step(qat)
    most, mean = STEPS[name]
    assert np.abs(got - want).max() <= most * step * (1 + 1e-5)
    assert np.abs(got - want).mean() <= mean * step
    assert np.mean(got.argmax(-1) == want.argmax(-1)) >= 15 / 16
    assert np.abs(want).max() > 20 * step  # the logits are not all zero


def test_calibrate_sets_ranges_and_no_weight(calibrated):
    model, qat = calibrated("V1")
    fresh = quantization.prepare(model)
    weights = [keras.ops.convert_to_numpy(w) for w in fresh.weights
               if "quant" not in w.path]
    with pytest.raises(ValueError, match="calibrate"):
        quantization.export_litert(fresh, "unused.tflite")
    quantization.calibrate(fresh, images("V1", 8, 0), batch_size=8)
    after = [keras.ops.convert_to_numpy(w) for w in fresh.weights
             if "quant" not in w.path]
    for a, b in zip(weights, after):
        np.testing.assert_array_equal(a, b)
    first = fresh.get_layer("input_layer_quant") if any(
        layer.name == "input_layer_quant" for layer in fresh.layers) else [
        layer for layer in fresh.layers
        if isinstance(layer, quantization.ActivationQuantizer)][0]
    low, high = (float(v) for v in first.range())
    # The images' range (widened by `layers.WIDEN` of its width).
    assert -1.01 <= low < -0.9 and 0.9 < high <= 1.01


def test_simulation_follows_the_float_model(calibrated):
    # BatchNorm folded and int8: the float model's function, up to int8
    # steps (here within a tenth of the logits' spread).
    model, qat = calibrated("V1")
    x = images("V1", 8, 2)
    want, got = model_outputs(model, x), model_outputs(qat, x)
    assert np.abs(got - want).max() < 0.1 * np.ptp(want)
    assert qat.taps.keys() == model.taps.keys()
    assert qat.data_config == model.data_config
    assert not any(isinstance(layer, keras.layers.BatchNormalization)
                   for layer in qat.layers)


def test_keras_file_keeps_ranges_facts_and_outputs(calibrated, tmp_path):
    _, qat = calibrated(SAVED)
    path = str(tmp_path / "qat.keras")
    qat.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, km.Model)
    assert loaded.taps == qat.taps and loaded.data_config == qat.data_config
    for a, b in zip(qat.non_trainable_weights, loaded.non_trainable_weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                      keras.ops.convert_to_numpy(b))
    x = images(SAVED, 4, 3)
    np.testing.assert_array_equal(model_outputs(loaded, x),
                                  model_outputs(qat, x))


def test_training_reaches_kernels_and_moves_unfrozen_ranges(calibrated):
    model, _ = calibrated("V1")
    qat = quantization.prepare(model)
    x, y = images("V1", 16, 4), np.arange(16) % 10
    quantization.calibrate(qat, x, batch_size=16)
    first = qat.get_layer("conv1")  # the stem, behind every quantizer
    kernel = keras.ops.convert_to_numpy(first.kernel).copy()
    gamma = keras.ops.convert_to_numpy(first.gamma).copy()
    ranges = [float(v) for v in qat.get_layer("conv1_relu_quant").range()]
    qat.compile(optimizer=keras.optimizers.SGD(0.1),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True))
    quantization.freeze_ranges(qat)
    qat.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.abs(keras.ops.convert_to_numpy(first.kernel) - kernel).max() > 0
    assert np.abs(keras.ops.convert_to_numpy(first.gamma) - gamma).max() > 0
    assert [float(v) for v in qat.get_layer(
        "conv1_relu_quant").range()] == ranges
    quantization.freeze_ranges(qat, False)
    qat.fit(x * 2, y, batch_size=16, epochs=1, verbose=0)
    assert [float(v) for v in qat.get_layer(
        "conv1_relu_quant").range()] != ranges


def test_a_layer_it_cannot_quantize_is_named():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.LayerNormalization(name="odd_norm")(x)
    model = keras.Model(inputs, x)
    with pytest.raises(ValueError, match="'odd_norm' of type "
                       "LayerNormalization"):
        quantization.prepare(model)
    with pytest.raises(TypeError, match="functional keras.Model"):
        quantization.prepare("MobileNet")
    with pytest.raises(ValueError, match="QAT model"):
        quantization.calibrate(model, np.zeros((1, 8, 8, 3), "float32"))


def test_export_command_writes_a_qat_file(calibrated, tmp_path, capsys):
    from keras_mobilenets import cli

    _, qat = calibrated("V1")
    model_file = str(tmp_path / "qat.keras")
    qat.save(model_file)
    output = str(tmp_path / "model_int8.tflite")
    assert cli.main(["export", "--model-file", model_file,
                     "--output", output]) == 1
    assert "--int8" in capsys.readouterr().err
    assert cli.main(["export", "--model-file", model_file, "--int8",
                     "--calibration", str(tmp_path), "--output", output]) == 1
    assert "--calibration" in capsys.readouterr().err
    if BACKEND != "tensorflow":
        return  # the child-process export is `test_litert_file_...`'s
    assert cli.main(["export", "--model-file", model_file, "--int8",
                     "--output", output]) == 0
    printed = capsys.readouterr().out
    assert "LiteRT int8 from the QAT model's ranges" in printed
    assert "top-1 agreement 100%" in printed


@pytest.mark.skipif(BACKEND != "tensorflow", reason="graph rewriting, "
                    "backend-free; the QAT ops are tested on V1 off "
                    "TensorFlow")
def test_a_backbone_nested_under_a_new_head_is_prepared_flat():
    """The fine-tuning shape (`base(x)` under a head, a `rescaling` name in
    both): prepare inlines the backbone, its layers keep their names, the
    outer one of the same name is renamed, and the QAT model follows the
    float one."""
    base = km.MobileNetV3Small(alpha=0.75, weights=None, include_top=False,
                               pooling="avg", input_shape=(SIZE, SIZE, 3))
    randomize(base)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1.0, name="rescaling")(inputs)
    x = keras.layers.Dropout(0.2)(base(x))
    model = km.Model(inputs, keras.layers.Dense(3)(x),
                     class_names=[[n, n] for n in "abc"])
    qat = quantization.prepare(model)
    names = [layer.name for layer in qat.layers]
    assert not any(isinstance(layer, keras.Model) for layer in qat.layers)
    assert "rescaling" in names and "rescaling_1" in names
    assert base.layers[5].name in names and qat.class_names == model.class_names
    x = images("V3Small", 8, 1)
    quantization.calibrate(qat, x)
    want, got = model_outputs(model, x), model_outputs(qat, x)
    assert np.abs(got - want).max() < 0.25 * np.abs(want).max()


def dead_channel_model():
    """Conv-BN-ReLU6 twice and a Dense head (16 px), whose pointwise
    convolution has two dead channels as trained weights have them
    (MobileNet's ImageNet weights: kernel ~1e-9, moving variance ~1e-20):
    folded, their int8 range is tiny and their bias huge in its units,
    once negative (ReLU6 gives 0) and once positive (a constant)."""
    layers = keras.layers
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False,
                      name="stem")(inputs)
    x = layers.ReLU(6.0)(layers.BatchNormalization(name="stem_bn")(x))
    x = layers.Conv2D(16, 1, use_bias=False, name="pw")(x)
    x = layers.ReLU(6.0)(layers.BatchNormalization(name="pw_bn")(x))
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(10, name="logits")(x))
    randomize(model)
    pw, bn = model.get_layer("pw"), model.get_layer("pw_bn")
    kernel = keras.ops.convert_to_numpy(pw.kernel)
    kernel[..., :2] = np.sign(kernel[..., :2]) * 1e-8
    pw.kernel.assign(kernel)
    for variable, dead in ((bn.moving_variance, 1e-20), (bn.beta, None)):
        value = keras.ops.convert_to_numpy(variable)
        value[:2] = (dead, dead) if dead else (-2.0, 2.0)
        variable.assign(value)
    return model


@pytest.mark.skipif(BACKEND != "tensorflow", reason=(
    "what differed was the converter's and LiteRT's arithmetic, the same "
    "for a model trained on any backend (their export runs TensorFlow in a "
    "child process: test_litert_file_computes_the_simulation)"))
def test_file_follows_the_qat_model_after_training_with_dead_channels(
        tmp_path):
    """QAT steps at a real learning rate, then the file and the QAT Keras
    model agree within float32's rounding-boundary flips. Before the int8
    weight range kept the int32 bias in range, the converter saturated the
    dead channels' bias and LiteRT's int32 sum wrapped around: ReLU6
    outputs of 6 for 0, 255 int8 steps (7% of CIFAR-10 top-1 answers)."""
    model = dead_channel_model()
    rng = np.random.default_rng(5)
    x = (rng.integers(0, 256, (64, 16, 16, 3)) / 127.5 - 1).astype("float32")
    qat = quantization.prepare(model)
    quantization.calibrate(qat, x[:32])
    kernel = keras.ops.convert_to_numpy(qat.get_layer("stem").kernel).copy()
    qat.compile(keras.optimizers.Adam(1e-2),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                run_eagerly=True)  # 4 steps: faster than tracing them
    qat.fit(x, np.arange(64) % 10, batch_size=16, epochs=1, verbose=0)
    assert np.abs(keras.ops.convert_to_numpy(
        qat.get_layer("stem").kernel) - kernel).max() > 1e-3
    path = str(tmp_path / "trained_int8.tflite")
    quantization.export_litert(qat, path)
    test = x[32:]
    want = model_outputs(qat, test)
    got = km_export.run_file(path, test, "litert")
    step = output_step(qat)
    # float32 of the simulation vs LiteRT's integer sums: a value next to a
    # rounding boundary lands one step the other way, rarely.
    assert np.abs(got - want).max() <= 2 * step * (1 + 1e-5)
    assert np.abs(got - want).mean() <= 0.1 * step
    assert np.all(got.argmax(-1) == want.argmax(-1))
    assert np.ptp(want) > 20 * step  # the logits are not all alike


def test_int8_weight_range_keeps_the_converters_floor_and_the_bias():
    from keras_mobilenets.quantization.layers import weight_bound

    kernel = np.zeros((1, 1, 4, 3), "float32")
    kernel[0, 0, 0] = (1e-9, 0.5, 1e-3)
    bias = np.asarray([1.0, 1.0, -1e-3], "float32")

    def bound(*args):
        return keras.ops.convert_to_numpy(weight_bound(*args))

    # Below the converter's 1e-6 wide range: its [-5e-7, 5e-7].
    np.testing.assert_allclose(bound(kernel, -1), (5e-7, 0.5, 1e-3))
    # A bias of 1.0 over an input step of 0.02 fits 2**30 int32 units.
    np.testing.assert_allclose(bound(kernel, -1, bias, 0.02),
                               (127 / (0.02 * 2.0 ** 30), 0.5, 1e-3),
                               rtol=1e-6)
    np.testing.assert_allclose(bound(kernel, None, bias, 0.02), 0.5)
