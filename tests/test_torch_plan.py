"""Inference on the PyTorch backend runs as a plan (`fast.plan`) that gives
Keras' own functional call's outputs; anything else is Keras' call.

Collected only under the PyTorch backend (conftest.py); the class of every
model and its `.keras` round trip are checked on every backend in
test_saved_models.py."""

import keras
import numpy as np
import pytest
import torch

import keras_mobilenets as km
from keras_mobilenets import segmentation
from keras_mobilenets.fast import plan as fast_plan
from keras_mobilenets.fast.folding import fold_into_conv, foldable_pairs

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # where Keras puts tensors
CASES = [  # (builder, keyword arguments, input size)
    ("MobileNet", dict(alpha=0.25), 64),
    ("MobileNetV2", dict(alpha=0.35), 64),
    ("MobileNetV3Small", dict(alpha=0.75), 64),
    ("MobileNetV3Large", dict(include_top=False, pooling="avg", minimalistic=True), 64),
    ("MobileNetV4ConvSmall", dict(), 64),
    ("MobileNetV4HybridMedium", dict(), 64),
    ("MobileNetV4ConvBlurMedium", dict(include_top=False), 64),
    ("MobileNetV4ConvSmall", dict(include_top=False, output_stride=8), 64),
    ("MobileNetV3Large", dict(include_top=False, output_stride=16), 64),
]


def _build(name, kwargs, size, seed=0):
    """The model with random BatchNorm statistics (so folding matters) and
    logits rather than probabilities where it has a top."""
    if kwargs.get("include_top", True):
        kwargs = dict(kwargs, classifier_activation=None)
    model = getattr(km, name)(weights=None, input_shape=(size, size, 3), **kwargs)
    _randomize_batch_norm(model, seed)
    return model


def _randomize_batch_norm(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.2, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2, n).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.2, n).astype("float32"))


def _keras_call(model, x, **kwargs):
    """Keras' own functional call, past our `Model.call`."""
    return super(km.Model, model).call(x, **kwargs)


def _images(size, batch=2, seed=1):
    return np.random.default_rng(seed).uniform(
        0, 255, (batch, size, size, 3)).astype("float32")


@pytest.mark.parametrize("name, kwargs, size", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_plan_gives_keras_outputs(name, kwargs, size):
    model = _build(name, kwargs, size)
    x = torch.from_numpy(_images(size)).to(DEVICE)
    before = x.clone()
    with torch.no_grad():
        want = _keras_call(model, x, training=False)
        got = model(x, training=False)
    assert "_km_torch_plan" in model.__dict__
    assert torch.equal(x, before)  # nothing written into the input
    assert got.shape == want.shape and got.is_contiguous()
    scale = float(want.abs().max())
    want = want.cpu().numpy()
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=0,
                               atol=1e-5 * max(scale, 1.0))
    np.testing.assert_allclose(model.predict_on_batch(x.cpu().numpy()), want,
                               rtol=0, atol=1e-5 * max(scale, 1.0))


def test_v1_to_v3_and_hybrid_plans_need_no_keras_layer_calls():
    """Nor do V4's custom layers: LayerScale and MultiQueryAttention give
    their own steps (`torch_step`)."""
    for name, kwargs, size in CASES[:4] + CASES[5:6]:
        plan = fast_plan.plan_of(_build(name, kwargs, size))
        generic = [node.operation.name for fn, ins, out, node in plan.steps
                   if ins is None]
        assert generic == [], (name, generic)
    kinds = {type(node.operation) for fn, ins, out, node in plan.steps}
    assert {km.layers.LayerScale, km.layers.MultiQueryAttention} <= kinds


def test_plan_sees_new_weights_and_recorded_gradients_use_keras():
    model = _build("MobileNetV2", dict(alpha=0.35), 64)
    x = torch.from_numpy(_images(64))
    with torch.no_grad():
        first = model(x, training=False)
        _randomize_batch_norm(model, seed=5)       # assign() writes in place
        conv = model.get_layer("Conv1")
        conv.kernel.assign(conv.kernel.numpy() * 2.0)
        second = model(x, training=False)
        want = _keras_call(model, x, training=False)
    assert float((second - first).abs().max()) > 1e-3
    np.testing.assert_allclose(second.numpy(), want.numpy(), rtol=0, atol=1e-5)
    # With gradients recorded (fine-tuning with BatchNorm in inference mode)
    # Keras' own call runs, and the gradient reaches the kernels.
    out = model(x, training=False)
    out.sum().backward()
    assert conv.kernel.value.grad is not None


def test_only_inference_without_gradients_uses_the_plan():
    model = _build("MobileNetV3Small", dict(alpha=0.75), 64)
    images = _images(64)
    x = torch.from_numpy(images)

    def plan_runs(*args):
        return fast_plan.plan_input(model, *args) is not None

    with torch.no_grad():
        assert plan_runs(x, False, None, {}) and plan_runs(x, None, None, {})
        assert plan_runs(images, False, None, {})   # predict_on_batch's NumPy
        assert plan_runs(x.double(), False, None, {})  # cast as Keras casts
        assert not plan_runs(x, True, None, {})
        assert not plan_runs(x[0], False, None, {})
    assert not plan_runs(x, False, None, {})  # gradients recorded
    calls = []
    real = fast_plan.Plan.__call__
    fast_plan.Plan.__call__ = lambda self, t: calls.append(1) or real(self, t)
    try:
        model.predict_on_batch(images)
        assert len(calls) == 1
        model.predict(images, verbose=0)
        predicted = len(calls)
        assert predicted > 1
        model.compile(optimizer="sgd", loss="mse")
        model.fit(images, np.zeros((2, 1000)), verbose=0)  # trains as Keras
    finally:
        fast_plan.Plan.__call__ = real
    assert len(calls) == predicted


def test_feature_extractor_and_quantized_model():
    model = _build("MobileNetV4ConvSmall", dict(), 64)
    features = km.feature_model(model)
    assert isinstance(features, km.Model)
    x = torch.from_numpy(_images(64))
    with torch.no_grad():
        got = features(x, training=False)
        want = _keras_call(features, x, training=False)
    assert len(keras.tree.flatten(got)) == len(keras.tree.flatten(want)) > 1
    for g, w in zip(keras.tree.flatten(got), keras.tree.flatten(want)):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=0, atol=1e-5)
    with torch.no_grad():
        model(x, training=False)
        plan = model.__dict__["_km_torch_plan"]
        model.quantize("int8")  # the classifier (Keras 3.15 quantizes Dense)
        got = model(x, training=False)
        want = _keras_call(model, x, training=False)
    assert model.__dict__["_km_torch_plan"] is not plan  # made again
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-4)


def test_segmentation_models_give_keras_outputs():
    """LR-ASPP (sigmoid attention, resizing) and DeepLabV3 (dilated
    convolutions, ASPP) heads on a backbone, through the plan; the last at
    output stride 8 on an 8x12 map, where ASPP's rate 8 reads the map with
    the middle row of its taps and rate 12 with the middle tap alone, and
    every dilated convolution has its BatchNorm folded in."""
    for builder, kwargs in (
            (segmentation.LRASPP, {}), (segmentation.DeepLabV3, {}),
            (segmentation.DeepLabV3, dict(
                backbone="MobileNetV4ConvSmall", output_stride=8,
                atrous_rates=(4, 8, 12), input_shape=(64, 96, 3)))):
        kwargs = dict(dict(backbone="MobileNetV3Small",
                           input_shape=(64, 64, 3)), **kwargs)
        model = builder(classes=3, backbone_weights=None, **kwargs)
        _randomize_batch_norm(model, seed=2)
        x = torch.from_numpy(np.random.default_rng(1).uniform(
            0, 255, (2, *kwargs["input_shape"])).astype("float32"))
        with torch.no_grad():
            want = _keras_call(model, x, training=False)
            got = model(x, training=False)
        assert "_km_torch_plan" in model.__dict__
        scale = float(want.abs().max())
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0,
                                   atol=1e-5 * max(scale, 1.0))
    dilated = [layer for layer in model.layers
               if max(getattr(layer, "dilation_rate", (1,))) > 1]
    assert len(dilated) > 3
    assert set(dilated) <= set(foldable_pairs(model).values())


def test_plan_is_made_again_after_lora_or_a_new_dtype_policy():
    """A layer whose weights a step reads and that computes differently
    (LoRA, another dtype policy) makes the plan stale; the next call makes
    it again and gives Keras' outputs. Calls in between walk no layers."""
    model = _build("MobileNetV2", dict(alpha=0.35), 64)
    x = torch.from_numpy(_images(64))
    with torch.no_grad():
        model(x, training=False)
        plan = model.__dict__["_km_torch_plan"]
        real = model._flatten_layers
        model._flatten_layers = None  # a per-call walk over layers would fail
        try:
            model(x, training=False)
        finally:
            del model._flatten_layers
            assert model._flatten_layers == real
        assert model.__dict__["_km_torch_plan"] is plan
        conv = model.get_layer("block_1_project")
        conv.enable_lora(2)
        conv.lora_kernel_b.assign(np.random.default_rng(3).normal(
            0, 0.5, tuple(conv.lora_kernel_b.shape)).astype("float32"))
        got = model(x, training=False)
        want = _keras_call(model, x, training=False)
        assert model.__dict__["_km_torch_plan"] is not plan
        plan = model.__dict__["_km_torch_plan"]
        dense = model.get_layer("predictions")
        dense.dtype_policy = "bfloat16"
        got_bf16 = model(x, training=False)
        want_bf16 = _keras_call(model, x, training=False)
    assert model.__dict__["_km_torch_plan"] is not plan
    generic = [node.operation.name
               for fn, ins, out, node in model.__dict__["_km_torch_plan"].steps
               if ins is None]
    assert generic == ["block_1_project", "predictions"]
    scale = float(want.abs().max())
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0,
                               atol=1e-5 * max(scale, 1.0))
    # The Dense of another dtype policy is Keras' own now: bfloat16's
    # rounding away from Keras' functional call at most.
    scale = float(want_bf16.float().abs().max())
    np.testing.assert_allclose(got_bf16.float().numpy(),
                               want_bf16.float().numpy(), rtol=0,
                               atol=1e-2 * max(scale, 1.0))


def test_batch_norm_fold_is_the_same_on_numpy_and_torch():
    """`fold_into_conv` serves `fold_batch_norm` (NumPy) and the plan
    (torch): the same float64 numbers from both."""
    rng = np.random.default_rng(7)
    for kernel_shape, depthwise in (((3, 3, 4, 2), True), ((1, 1, 4, 6), False)):
        channels = int(np.prod(kernel_shape[2:] if depthwise else kernel_shape[3:]))
        arrays = [rng.normal(0, 1, kernel_shape), rng.normal(0, 1, channels),
                  rng.uniform(0.5, 1.5, channels), None,
                  rng.normal(0, 0.2, channels), rng.uniform(0.5, 2, channels)]
        want = fold_into_conv(*arrays, 1e-3, depthwise)
        got = fold_into_conv(*(None if a is None else torch.from_numpy(a)
                               for a in arrays), 1e-3, depthwise)
        for g, w in zip(got, want):
            assert g.dtype == torch.float64 and g.shape == w.shape
            np.testing.assert_array_equal(g.numpy(), w)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_replay_gives_keras_outputs_and_sees_new_weights():
    from keras_mobilenets.fast import graphs

    model = _build("MobileNetV4ConvSmall", dict(), 64)
    x = torch.from_numpy(_images(64)).cuda()
    with torch.no_grad():
        want = _keras_call(model, x, training=False)
        outs = [model(x, training=False) for _ in range(3)]  # 2nd captures
        plan = fast_plan.plan_of(model)
        assert plan.graphs is not None and len(plan.graphs.graphs) == 1
        assert not plan.graphs.off
        scale = max(float(want.abs().max()), 1.0)
        for out in outs:
            np.testing.assert_allclose(out.cpu().numpy(), want.cpu().numpy(),
                                       rtol=0, atol=1e-4 * scale)
        # A replay's outputs are the caller's: the next replay leaves them.
        first = outs[1].clone()
        model(x * 0.5, training=False)
        assert torch.equal(outs[1], first)
        # New weights: the graph is captured again, not replayed stale.
        _randomize_batch_norm(model, seed=7)
        want = _keras_call(model, x, training=False)
        got = model(x, training=False)
        np.testing.assert_allclose(got.cpu().numpy(), want.cpu().numpy(),
                                   rtol=0, atol=1e-4 * scale)
        graphs.ENABLED = False
        try:
            eager = model(x, training=False)
        finally:
            graphs.ENABLED = True
        np.testing.assert_allclose(got.cpu().numpy(), eager.cpu().numpy(),
                                   rtol=0, atol=1e-5 * scale)


def test_a_backbone_nested_under_a_new_head_runs_its_own_plan():
    """The model `train` builds (scaling, the backbone as one layer, dropout,
    a softmax top): its plan calls the backbone, whose plan needs no Keras
    layer call; it gives Keras' own outputs before and after training steps
    (which run as Keras, gradients recorded), and fit's validation uses it."""
    from keras_mobilenets import registry, training

    def build(**kwargs):
        return km.MobileNet(alpha=0.25, weights=None, **kwargs)

    net = training._classifier(registry.get("MobileNet"), build, 64,
                               ["a", "b", "c"], {"dropout": 0.2})
    backbone = training._backbone(net)
    _randomize_batch_norm(backbone, seed=0)
    training._set_stage(net, "unfrozen")  # BatchNorm frozen, as train does
    outer, inner = fast_plan.plan_of(net), fast_plan.plan_of(backbone)
    assert [node.operation.name for fn, ins, out, node in outer.steps
            if ins is None] == [backbone.name]
    assert [node.operation for fn, ins, out, node in inner.steps
            if ins is None] == []
    images = _images(64, batch=4)

    def keras_path():
        with torch.enable_grad():  # no plan, outer or nested
            return net(torch.from_numpy(images), training=False).detach().numpy()

    before = net.predict_on_batch(images)
    np.testing.assert_allclose(before, keras_path(), rtol=0, atol=1e-5)
    calls = []
    real = fast_plan.Plan.__call__
    fast_plan.Plan.__call__ = lambda self, t: calls.append(self.model.name) or real(self, t)
    try:
        net.compile(keras.optimizers.AdamW(1e-2), "categorical_crossentropy")
        labels = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
        net.fit(images, labels, epochs=2, verbose=0, validation_data=(images, labels))
    finally:
        fast_plan.Plan.__call__ = real
    assert calls == [net.name, backbone.name] * 2  # validation only
    after = net.predict_on_batch(images)
    assert float(np.abs(after - before).max()) > 1e-3
    np.testing.assert_allclose(after, keras_path(), rtol=0, atol=1e-5)
