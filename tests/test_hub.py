"""`weights="hf-hub:<repo_id>[@<revision>]"`: timm repositories of the
Hugging Face hub through huggingface_hub, against a stand-in hub on
127.0.0.1 (`fake_hub.FakeHub`, the `fake_hub` fixture); no network.

The repositories hold the V4 parity fixture of mobilenetv4_conv_small_050
(tests/fixtures/v4) as timm's `model.safetensors`, and a timm `config.json`.
"""

import json
import warnings

import keras
import numpy as np
import pytest
from safetensors.numpy import save

import keras_mobilenets as km
from conftest import model_outputs
from keras_mobilenets import builder, cli, imagenet, mobilenet_v4, registry
from keras_mobilenets.errors import DownloadError, WeightsError
from timm_v1_v3_reference import load_fixture as load_v1_v3
from v4_reference import load_fixture, reference_input, reference_weights

SMALLEST = "mobilenetv4_conv_small_050"
REPO = f"timm/{SMALLEST}.test"
LOGITS_ATOL = 1e-4
MEAN, STD = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)  # neither ImageNet's nor 0.5s
ENTRY, ALPHA = registry.timm_names()[SMALLEST]


def _config(architecture=SMALLEST, num_classes=1000, **extra):
    return json.dumps(dict({
        "architecture": architecture,
        "num_classes": num_classes,
        "num_features": 1280,
        "pretrained_cfg": {
            "tag": "test", "input_size": [3, 224, 224], "crop_pct": 0.875,
            "interpolation": "bicubic", "mean": list(MEAN), "std": list(STD),
            "num_classes": num_classes, "classifier": "classifier"},
    }, **extra)).encode()


@pytest.fixture(scope="module")
def reference():
    """(fixture, timm state dict {name: array}) of the smallest V4."""
    fx = load_fixture(SMALLEST)
    return fx, reference_weights(fx["spec"], fx["seed"])


def _serve(hub, repo_id, state, revision="main", **config):
    hub.add(repo_id, {"config.json": _config(**config),
                      "model.safetensors": save(state)}, revision)


def _build(weights, **kw):
    kw = dict(dict(classifier_activation=None, include_preprocessing=False),
              **kw)
    return ENTRY.builder(alpha=ALPHA, weights=weights, **kw)


def _ten_classes(state, classes=10):
    rng = np.random.default_rng(0)
    state = dict(state)
    state["classifier.weight"] = rng.normal(
        0, 0.05, (classes, state["classifier.weight"].shape[1])
    ).astype("float32")
    state["classifier.bias"] = np.zeros(classes, "float32")
    return state


def test_hub_repository_gives_timms_logits(fake_hub, reference):
    fx, state = reference
    _serve(fake_hub, REPO, state)
    model = _build(f"hf-hub:{REPO}")
    x = reference_input(fx["input_shape_small"], fx["seed"])
    np.testing.assert_allclose(model_outputs(model, x), fx["logits_small"],
                               rtol=0, atol=LOGITS_ATOL)
    got = {(m, f) for m, _, _, f in fake_hub.requests()}
    assert {("GET", "config.json"), ("GET", "model.safetensors")} <= got


def test_preprocessing_uses_the_config_mean_and_std(fake_hub, reference):
    fx, state = reference
    _serve(fake_hub, REPO, state)
    model = _build(f"hf-hub:{REPO}", include_preprocessing=True)
    config = model.get_layer("normalization").get_config()
    np.testing.assert_allclose(config["mean"], [255 * m for m in MEAN],
                               rtol=1e-6)
    np.testing.assert_allclose(config["variance"],
                               [(255 * s) ** 2 for s in STD], rtol=1e-6)
    plain = _build(f"hf-hub:{REPO}")
    images = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3))
    normalised = (images / 255.0 - np.array(MEAN)) / np.array(STD)
    np.testing.assert_allclose(
        model_outputs(model, images.astype("float32")),
        model_outputs(plain, normalised.astype("float32")), rtol=0, atol=1e-4)


def reload_offline(hub, monkeypatch, load, x):
    """Loads a model with `load()` from the stand-in hub (its weights are
    fetched), stops the hub, sets HF_HUB_OFFLINE=1 and loads it again: no
    request is made and the outputs on `x` are the same."""
    first = load()
    assert hub.requests("model.safetensors")
    hub.stop()
    before = len(hub.log)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    second = load()
    assert len(hub.log) == before
    np.testing.assert_array_equal(model_outputs(second, x),
                                  model_outputs(first, x))


def test_second_load_offline_comes_from_the_cache(fake_hub, reference,
                                                  monkeypatch):
    fx, state = reference
    _serve(fake_hub, REPO, state)
    x = reference_input(fx["input_shape_small"], fx["seed"])
    reload_offline(fake_hub, monkeypatch, lambda: _build(f"hf-hub:{REPO}"), x)
    # Offline, what was never downloaded is a clear error.
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE.*Received: "
                       r"weights='hf-hub:timm/other'"):
        _build("hf-hub:timm/other")


V1_V3, V1_V3_TAG = "mobilenetv2_050", "lamb_in1k"


@pytest.mark.parametrize("preset", [f"{V1_V3}.{V1_V3_TAG}",
                                    f"hf-hub:timm/{V1_V3}.test"])
def test_v1_v3_second_load_offline_comes_from_the_cache(
        fake_hub, keras_home, monkeypatch, preset):
    """A timm V1-V3 checkpoint, named as a registry checkpoint (its weights
    only fetched) or as a hub repository (its config.json read too),
    reloads offline from the cache."""
    state = load_v1_v3(V1_V3)[1]
    for repo in (f"timm/{V1_V3}.{V1_V3_TAG}", f"timm/{V1_V3}.test"):
        _serve(fake_hub, repo, state, architecture=V1_V3)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(
        "float32")
    with warnings.catch_warnings():  # the registry's 224x224, loaded at 64
        warnings.simplefilter("ignore", UserWarning)
        reload_offline(fake_hub, monkeypatch, lambda: km.from_preset(
            preset, input_shape=(64, 64, 3)), x)


def test_repository_of_another_architecture_is_refused(fake_hub, reference):
    _, state = reference
    repo = "timm/mobilenetv4_hybrid_medium.test"
    _serve(fake_hub, repo, state, architecture="mobilenetv4_hybrid_medium")
    with pytest.raises(ValueError) as e:
        _build(f"hf-hub:{repo}")
    message = str(e.value)
    assert "'mobilenetv4_hybrid_medium'" in message  # what the repo holds
    assert ENTRY.name in message and SMALLEST in message  # what was called
    assert f"Received: weights='hf-hub:{repo}', alpha={ALPHA}" in message
    assert not fake_hub.requests("model.safetensors")
    # The same model at another alpha says which alpha it needs.
    _serve(fake_hub, REPO, state, architecture="mobilenetv4_conv_small")
    with pytest.raises(ValueError, match=r"with alpha=1.0\. Received: "):
        _build(f"hf-hub:{REPO}")


def test_classes_come_from_the_repository(fake_hub, reference):
    _, state = reference
    repo = "someone/mobilenetv4-flowers"
    names = [f"flower_{i}" for i in range(10)]
    _serve(fake_hub, repo, _ten_classes(state), num_classes=10,
           label_names=names)
    model = _build(f"hf-hub:{repo}")
    assert model.output.shape == (None, 10)
    y = model_outputs(model, np.zeros((1, 64, 64, 3), "float32"))
    assert y.shape == (1, 10) and np.isfinite(y).all()
    assert _build(f"hf-hub:{repo}", classes=10).output.shape == (None, 10)
    body = _build(f"hf-hub:{repo}", include_top=False, pooling="avg")
    assert len(body.output.shape) == 2
    with pytest.raises(ValueError, match=r"10 classes.*Received: classes=7"):
        _build(f"hf-hub:{repo}", classes=7)
    # The label names stay with the source.
    _, resolved = builder.resolve(ENTRY, alpha=ALPHA, weights=f"hf-hub:{repo}")
    assert resolved.source.label_names == tuple(names)
    assert resolved.classes == resolved.data_config["num_classes"] == 10


ANIMALS = ["cat", "dog", "bird"]
ABOUT = {"cat": "a small feline", "dog": "a domestic canine",
         "bird": "a feathered flier"}


def _decoded_order(model, top):
    """Class indices of the model's outputs on an input, best first."""
    x = np.random.default_rng(3).uniform(0, 1, (2, 64, 64, 3))
    preds = model_outputs(model, x.astype("float32"))
    return preds, [list(np.argsort(-p, kind="stable")[:top]) for p in preds]


def test_label_names_decode_the_repositorys_classes(fake_hub, reference,
                                                   tmp_path):
    """timm's push_to_hf_hub writes `label_names` (and `label_descriptions`)
    at the top of config.json: decoding a model built from it gives them,
    as (name, description, score), best first; fold_batch_norm's copy and
    a `.keras` file keep them, with the repository's data config."""
    _, state = reference
    repo = "someone/mobilenetv4-pets"
    _serve(fake_hub, repo, _ten_classes(state, 3), num_classes=3,
           label_names=ANIMALS, label_descriptions=ABOUT)
    model = _build(f"hf-hub:{repo}")
    preds, order = _decoded_order(model, 3)
    decoded = km.decode_predictions(preds, top=3, model=model)
    for sample, pred, best in zip(decoded, preds, order):
        assert [c for c, _, _ in sample] == [ANIMALS[i] for i in best]
        assert [n for _, n, _ in sample] == [ABOUT[ANIMALS[i]] for i in best]
        np.testing.assert_array_equal([s for _, _, s in sample], pred[best])
    # The keras.applications-style module decodes the same way.
    assert mobilenet_v4.decode_predictions(preds, top=2, model=model) == [
        d[:2] for d in decoded]
    folded = km.fold_batch_norm(model)
    assert km.decode_predictions(preds, top=3, model=folded) == decoded
    path = str(tmp_path / "pets.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert km.decode_predictions(preds, top=3, model=loaded) == decoded
    config = km.data_config(loaded)
    assert config == km.data_config(model) == km.data_config(folded)
    assert config == {
        "input_size": (3, 224, 224), "interpolation": "bicubic",
        "crop_pct": 0.875, "crop_mode": "center", "mean": MEAN, "std": STD,
        "num_classes": 3, "weights": f"hf-hub:{repo}"}
    with pytest.raises(ValueError, match=r"has 3 classes.*Received shape: "
                       r"\(1, 1000\)"):
        km.decode_predictions(np.zeros((1, 1000)), model=model)
    with pytest.raises(ValueError, match=r"in \[1, 3\]\. Received: top=5"):
        km.decode_predictions(preds, model=model)  # top=5 > 3 classes
    with pytest.raises(TypeError, match="keras.Model"):
        km.decode_predictions(preds, model="someone/mobilenetv4-pets")


def test_cli_predict_prints_the_repositorys_names(fake_hub, reference,
                                                  capsys):
    _, state = reference
    repo = "someone/mobilenetv4-pets"
    _serve(fake_hub, repo, _ten_classes(state, 3), num_classes=3,
           label_names=ANIMALS, label_descriptions=ABOUT)
    code = cli.main(["predict", "--model", ENTRY.name, "--alpha", str(ALPHA),
                     "--weights", f"hf-hub:{repo}", "--top", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    for name in ANIMALS:
        assert f"{ABOUT[name]} ({name})" in out


def test_label_names_in_pretrained_cfg_and_sparse(fake_hub, reference):
    """Where timm's loader moves them (`pretrained_cfg`), and as a sparse
    {index: name} (JSON keys are strings): a gap decodes as its index."""
    _, state = reference
    repo = "someone/mobilenetv4-sparse"
    config = json.loads(_config(num_classes=3))
    config["pretrained_cfg"]["label_names"] = {"0": "cat", "2": "bird"}
    fake_hub.add(repo, {"config.json": json.dumps(config).encode(),
                        "model.safetensors": save(_ten_classes(state, 3))})
    model = _build(f"hf-hub:{repo}")
    preds, order = _decoded_order(model, 3)
    names = ["cat", "1", "bird"]
    decoded = km.decode_predictions(preds, top=3, model=model)
    assert [[c for c, _, _ in d] for d in decoded] == [
        [names[i] for i in best] for best in order]
    assert [[n for _, n, _ in d] for d in decoded] == [
        [names[i] for i in best] for best in order]  # no descriptions


def test_without_label_names_other_than_1000_classes_is_an_error(
        fake_hub, reference):
    _, state = reference
    repo = "someone/mobilenetv4-unnamed"
    _serve(fake_hub, repo, _ten_classes(state, 3), num_classes=3)
    model = _build(f"hf-hub:{repo}")
    preds, _ = _decoded_order(model, 1)
    with pytest.raises(ValueError, match=r"carries no class names.*"
                       r"Received shape: \(2, 3\)"):
        km.decode_predictions(preds, model=model)
    # 1000 classes and no label_names: ImageNet's, as for timm's repositories.
    _serve(fake_hub, REPO, state)
    imagenet_model = _build(f"hf-hub:{REPO}")
    preds, _ = _decoded_order(imagenet_model, 1)
    assert km.decode_predictions(preds, top=2, model=imagenet_model) == \
        imagenet.decode_predictions(preds, top=2)


@pytest.mark.parametrize("labels, why", [
    ({"label_names": ["a", "b"]}, "2 entries"),
    ({"label_names": {"0": "a", "7": "b"}}, r"indices \[0, 7\]"),
    ({"label_names": ["a", "b", "c"], "label_descriptions": ["x"]},
     "label_descriptions must be"),
])
def test_bad_label_names_are_clear_errors(fake_hub, reference, labels, why):
    fake_hub.add("org/bad-labels", {"config.json": _config(
        num_classes=3, **labels)})
    with pytest.raises(WeightsError, match=f"not a timm config.json.*{why}"):
        _build("hf-hub:org/bad-labels")


def test_repository_with_only_a_pickle_file_is_refused_unread(fake_hub):
    repo = "someone/old-mobilenetv4"
    fake_hub.add(repo, {"config.json": _config(),
                        "pytorch_model.bin": b"pickle: never to be read"})
    with pytest.raises(WeightsError) as e:
        _build(f"hf-hub:{repo}")
    message = str(e.value)
    assert "model.safetensors" in message and "pickle" in message
    assert message.endswith(f"Received: weights='hf-hub:{repo}'")
    assert not fake_hub.requests("pytorch_model.bin")


def test_revision_pin_requests_that_revision(fake_hub, reference):
    fx, state = reference
    _serve(fake_hub, "org/repo", _ten_classes(state), num_classes=10)
    _serve(fake_hub, "org/repo", state, revision="v1")
    model = _build("hf-hub:org/repo@v1")
    assert model.output.shape == (None, 1000)
    x = reference_input(fx["input_shape_small"], fx["seed"])
    np.testing.assert_allclose(model_outputs(model, x), fx["logits_small"],
                               rtol=0, atol=LOGITS_ATOL)
    revisions = {(r, f) for _, _, r, f in fake_hub.requests()}
    assert revisions == {("v1", "config.json"), ("v1", "model.safetensors")}
    with pytest.raises(WeightsError, match=r"no revision 'v2'.*Received: "
                       r"weights='hf-hub:org/repo@v2'"):
        _build("hf-hub:org/repo@v2")


@pytest.mark.parametrize("weights", [
    "hf-hub:", "hf-hub:no_owner", "hf-hub:a/b/c", "hf-hub:org/repo@",
    "hf-hub:org/re po"])
def test_malformed_hub_names_are_refused(weights):
    with pytest.raises(ValueError, match=f"Received: weights={weights!r}"):
        _build(weights)


def test_missing_repository_and_config_are_clear_errors(fake_hub):
    with pytest.raises(WeightsError, match=r"no Hugging Face hub repository "
                       r"timm/nope.*Received: weights='hf-hub:timm/nope'"):
        _build("hf-hub:timm/nope")
    fake_hub.add("org/no-config", {"model.safetensors": b""})
    with pytest.raises(WeightsError, match=r"no config.json.*not a timm"):
        _build("hf-hub:org/no-config")
    fake_hub.add("org/bad-config", {"config.json": b'{"num_classes": 3}'})
    with pytest.raises(WeightsError, match=r"not a timm config.json"):
        _build("hf-hub:org/bad-config")


def test_models_without_a_timm_counterpart_refuse_hub_weights(fake_hub):
    fake_hub.add("org/v2", {"config.json": _config("mobilenetv2_100")})
    with pytest.raises(ValueError, match="no timm counterpart"):
        km.MobileNetV2(weights="hf-hub:org/v2")
    assert not fake_hub.requests()  # refused before any download


def test_imagenet_downloads_timms_repository_through_the_hub(
        fake_hub, reference, keras_home, monkeypatch):
    """`weights="imagenet"` is `hf-hub:timm/<model>.<tag>`: fetched with
    huggingface_hub, converted, and the conversion cached."""
    fx, state = reference
    ckpt = next(c for c in ENTRY.checkpoints if c.default and c.alpha == ALPHA)
    fake_hub.add(ckpt.hf_hub_id, {"model.safetensors": save(state)})
    model = _build("imagenet")
    x = reference_input(fx["input_shape_small"], fx["seed"])
    np.testing.assert_allclose(model_outputs(model, x), fx["logits_small"],
                               rtol=0, atol=LOGITS_ATOL)
    assert [(m, f) for m, _, _, f in fake_hub.requests()] == [
        ("HEAD", "model.safetensors"), ("GET", "model.safetensors")]
    assert (keras_home / "models" / ckpt.converted_fname(True)).is_file()
    assert ckpt.weights == f"hf-hub:{ckpt.hf_hub_id}"
