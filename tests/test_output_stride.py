"""`output_stride`: dilated last stages. MobileNetV4 against timm's own
dilated network with the same weights (fixture:
fixture_scripts/make_output_stride_fixtures.py); V1-V3 structurally (strides,
timm's dilation rule, the same weights load, 32 unchanged)."""

import os

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

import keras_mobilenets as km
from conftest import ROOT, model_outputs, randomize
from keras_mobilenets import features, registry
from keras_mobilenets import layers as km_layers
from v4_reference import load_fixture, reference_input, reference_weights

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "output_stride.npz")
ATOL = 1e-4  # the V4 parity tolerance (tests/test_mobilenet_v4.py)
TIMM_NAMES = {n: (e, a) for n, (e, a) in registry.timm_names().items()}


def _cases():
    with np.load(FIXTURE) as z:
        data = {k: z[k] for k in z.files}
    cases = {}
    for case in data["cases"]:
        name, stride = str(case).rsplit("_os", 1)
        prefix = f"{case}_"
        taps = []
        i = 0
        while f"{prefix}feat{i}_stride" in data:
            taps.append({k: data[f"{prefix}feat{i}_{k}"]
                         for k in ("stride", "shape", "mean", "corner")})
            i += 1
        cases[str(case)] = dict(name=name, output_stride=int(stride),
                                logits=data[prefix + "logits"], taps=taps,
                                input_shape=tuple(data["input_shape"]),
                                seed=int(data["seed"]))
    return cases


CASES = _cases()


@pytest.fixture(scope="module", params=sorted(CASES))
def dilated(request, tmp_path_factory):
    case = CASES[request.param]
    fx = load_fixture(case["name"])  # the state-dict layout of the V4 fixture
    path = str(tmp_path_factory.mktemp("os") / f"{request.param}.safetensors")
    save_file(reference_weights(fx["spec"], case["seed"]), path)
    entry, alpha = TIMM_NAMES[case["name"]]
    model = entry.builder(alpha=alpha, weights=path, classifier_activation=None,
                          include_preprocessing=False,
                          output_stride=case["output_stride"])
    return case, model


def test_v4_matches_timms_dilated_network(dilated):
    case, model = dilated
    x = reference_input(case["input_shape"], case["seed"])
    maps = features.feature_model(model).output
    both = keras.Model(model.input, [maps, model.output])
    got_maps, logits = both.predict(x, verbose=0, batch_size=1)
    diff = float(np.abs(logits - case["logits"]).max())
    print(f"{case['name']} output_stride={case['output_stride']}: logits "
          f"max |diff| {diff:.2e}")
    assert diff < ATOL, diff
    # timm reports a tap per stage; ours is the last one at each stride.
    last = {int(t["stride"]): t for t in case["taps"]}
    assert sorted(got_maps) == sorted(features.key(s) for s in last)
    for stride, want in last.items():
        got = got_maps[features.key(stride)]
        assert got.shape == tuple(want["shape"]), stride
        np.testing.assert_allclose(got.mean(axis=(0, 1, 2)), want["mean"],
                                   rtol=0, atol=ATOL, err_msg=str(stride))
        np.testing.assert_allclose(got[:, :4, :4], want["corner"], rtol=0,
                                   atol=ATOL, err_msg=str(stride))


def test_v4_taps_report_the_real_strides(dilated):
    case, model = dilated
    taps = model.taps
    assert max(taps) == case["output_stride"]
    assert sorted(taps) == sorted({int(t["stride"]) for t in case["taps"]})


KERAS_APPS = ["MobileNet", "MobileNetV2", "MobileNetV3Small",
              "MobileNetV3Large"]


def _dilations(model):
    return [layer.dilation_rate[0] for layer in model.layers
            if isinstance(layer, keras.layers.DepthwiseConv2D)]


def _strides(model):
    return [layer.strides[0] for layer in model.layers
            if isinstance(layer, keras.layers.DepthwiseConv2D)]


@pytest.mark.parametrize("name", KERAS_APPS)
def test_v1_v3_stride_dilation_and_the_same_weights(name, tmp_path):
    builder = getattr(km, name)
    kw = dict(weights=None, include_top=False, input_shape=(64, 96, 3))
    plain = randomize(builder(**kw))
    same = builder(output_stride=32, **kw)  # the layers of the default
    assert ([layer.get_config() for layer in same.layers[1:]]
            == [layer.get_config() for layer in plain.layers[1:]])
    path = str(tmp_path / "plain.weights.h5")
    plain.save_weights(path)
    for output_stride in (16, 8):
        model = builder(output_stride=output_stride, **kw)
        model.load_weights(path)  # the same variables, in the same order
        assert model.output_shape[1:3] == (64 // output_stride,
                                           96 // output_stride)
        taps = model.taps
        assert max(taps) == output_stride
        maps = features.feature_layers(model)
        assert sorted(maps) == [s for s in features.STRIDES
                                if s <= output_stride]
        for s, layer in maps.items():
            assert model.get_layer(layer).output.shape[1:3] == (64 // s,
                                                                96 // s)
        # timm's rule over the depthwise convs: a stride that would pass the
        # output stride becomes 1, the next blocks dilate by it; the first
        # converted block keeps the dilation before it.
        stride, dilation, want = 2, 1, []
        for s in _strides(plain):
            if s > 1 and stride * s > output_stride:
                want.append((1, dilation))
                dilation *= s
            else:
                stride *= s
                want.append((s, dilation))
        assert list(zip(_strides(model), _dilations(model))) == want
        assert max(_dilations(model)) == 32 // output_stride
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3))
    out = model_outputs(model, x.astype("float32"))  # runs, at output stride 8
    assert out.shape[1:3] == (8, 12) and np.isfinite(out).all()


def test_taps_of_a_reloaded_dilated_model_are_recognised(tmp_path):
    model = km.MobileNetV2(weights=None, include_top=False, alpha=0.35,
                           input_shape=(64, 64, 3), output_stride=16)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.taps == model.taps and max(model.taps) == 16
    assert features.feature_layers(loaded) == model.taps
    # Without them (a plain functional model), recognised by layer names.
    bare = keras.Model(loaded.inputs, loaded.outputs)
    assert features.feature_layers(bare) == model.taps


def _keras_twin(model):
    """`model` as a plain functional model of Keras' own convolution and
    BatchNorm layers (no fast kernels, no PyTorch plan), same weights."""
    own = {km_layers.DepthwiseConv2D: keras.layers.DepthwiseConv2D,
           km_layers.Conv2D: keras.layers.Conv2D,
           km_layers.BatchNormalization: keras.layers.BatchNormalization}

    def clone(layer):
        return own.get(type(layer), type(layer)).from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    twin = keras.Model(twin.inputs, twin.outputs)
    twin.set_weights(model.get_weights())
    assert not any(type(layer) in own for layer in twin.layers)
    return twin


@pytest.mark.parametrize("name, output_stride", [
    ("MobileNetV3Large", 8), ("MobileNetV4ConvSmall", 16)])
def test_dilated_fast_kernels_give_keras_outputs_and_step(name, output_stride):
    """The fast kernels (and the PyTorch plan) run the dilated blocks as
    Keras' own layers do, in inference and through one SGD step with the
    BatchNorms frozen, as a segmentation head is often fine-tuned (training
    BatchNorm on 2 images amplifies float32 rounding past any tolerance,
    with or without dilation; test_fast_layers.py checks it on one layer)."""
    def build(seed):
        return randomize(getattr(km, name)(
            weights=None, input_shape=(64, 64, 3), classes=10,
            classifier_activation=None, output_stride=output_stride,
            dropout_rate=0.0), seed)  # no random masks in the step

    model = build(0)
    assert max(_dilations(model)) == 32 // output_stride
    twin = _keras_twin(model)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    y = rng.normal(0, 1, (2, 10)).astype("float32")
    want = model_outputs(twin, x)
    scale = max(float(np.abs(want).max()), 1.0)
    np.testing.assert_allclose(model_outputs(model, x), want, rtol=0,
                               atol=1e-5 * scale)
    start = model.get_weights()
    for m in (model, twin):
        for layer in m.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
        m.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        m.train_on_batch(x, y)
    moved = 0
    for a, b, before in zip(model.get_weights(), twin.get_weights(), start):
        np.testing.assert_allclose(a, b, rtol=1e-4,
                                   atol=1e-5 * max(float(np.abs(b).max()), 1.0))
        moved += not np.array_equal(a, before)
    assert moved == len(model.trainable_weights) > 40  # every kernel moved


@pytest.mark.parametrize("value", [4, 64, "16", True, 16.0])
def test_bad_output_stride_is_refused(value):
    with pytest.raises(ValueError, match=f"output_stride.*Received: output_stride="):
        km.MobileNetV2(weights=None, output_stride=value)
