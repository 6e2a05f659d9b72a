"""`keras_mobilenets.from_preset`: a timm name with its tag, "hf://" and
"hf-hub:" handles and a local folder, for a V4 and a timm V2 network,
against the stand-in hub (`fake_hub`); no network. Every timm checkpoint,
V1 to V4, resolves to its builder and alpha; one network per family is built
and loaded. The weights are the parity fixtures' (tests/fixtures), at 64x64
inputs to stay fast."""

import json
import os

import keras
import numpy as np
import pytest
from safetensors.numpy import save, save_file

import keras_mobilenets as km
from conftest import ROOT
from keras_mobilenets import imagenet, presets, registry
from keras_mobilenets.errors import WeightsError
from timm_v1_v3_reference import load_fixture as load_v1_v3
from v4_reference import load_fixture as load_v4, reference_weights

V4, V4_TAG = "mobilenetv4_conv_small_050", "e3000_r224_in1k"
V2, V2_TAG = "mobilenetv2_050", "lamb_in1k"
MEAN, STD = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)
SMALL = dict(input_shape=(64, 64, 3), classifier_activation=None)


@pytest.fixture(scope="module")
def states():
    fx = load_v4(V4)
    return {V4: reference_weights(fx["spec"], fx["seed"]),
            V2: load_v1_v3(V2)[1]}


def _config(architecture, classes=1000):
    return json.dumps({
        "architecture": architecture, "num_classes": classes,
        "pretrained_cfg": {"input_size": [3, 224, 224], "crop_pct": 0.9,
                           "mean": list(MEAN), "std": list(STD)}}).encode()


def _serve(hub, repo_id, architecture, state):
    hub.add(repo_id, {"config.json": _config(architecture),
                      "model.safetensors": save(state)})


def _check_weights(model, state):
    """The classifier holds the checkpoint's (timm's (out, in) transposed)."""
    kernel = np.asarray(model.get_layer("classifier").kernel)
    np.testing.assert_array_equal(kernel, state["classifier.weight"].T)


@pytest.mark.parametrize("arch,tag", [(V4, V4_TAG), (V2, V2_TAG)])
def test_name_with_a_registry_tag(fake_hub, keras_home, states, arch, tag):
    _serve(fake_hub, f"timm/{arch}.{tag}", arch, states[arch])
    with pytest.warns(UserWarning, match="loading those for 224x224"):
        model = km.from_preset(f"{arch}.{tag}", **SMALL)
    _check_weights(model, states[arch])
    assert km.data_config(model)["weights"] == tag
    # The registry knows the architecture: only the weights are fetched.
    assert {f for _, _, _, f in fake_hub.requests()} == {"model.safetensors"}


@pytest.mark.parametrize("prefix", ["hf://", "hf-hub:"])
@pytest.mark.parametrize("arch", [V4, V2])
def test_hub_handles_read_the_config(fake_hub, states, arch, prefix):
    _serve(fake_hub, f"timm/{arch}.test", arch, states[arch])
    model = km.from_preset(f"{prefix}timm/{arch}.test", pooling="avg",
                           **SMALL)
    _check_weights(model, states[arch])
    config = km.data_config(model)
    assert config["mean"] == MEAN and config["crop_pct"] == 0.9
    assert config["weights"] == f"hf-hub:timm/{arch}.test"


@pytest.mark.parametrize("arch", [V4, V2])
def test_local_folder(tmp_path, states, arch):
    save_file(states[arch], str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_bytes(_config(arch))
    model = km.from_preset(str(tmp_path), **SMALL)
    _check_weights(model, states[arch])
    assert km.data_config(model)["std"] == STD


def test_builder_arguments_pass_through(tmp_path, states):
    save_file(states[V2], str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_bytes(_config(V2))
    model = km.from_preset(tmp_path, include_top=False, input_shape=(64, 64, 3),
                           output_stride=16)
    assert model.output.shape == (None, 4, 4, model.output.shape[-1])


def test_unknown_architecture_before_the_weights(fake_hub):
    fake_hub.add("timm/resnet18.test", {"config.json": _config("resnet18"),
                                        "model.safetensors": b"x"})
    with pytest.raises(ValueError, match="'resnet18', which is no registered"):
        km.from_preset("hf://timm/resnet18.test")
    assert not fake_hub.requests("model.safetensors")
    asked = len(fake_hub.requests())
    with pytest.raises(ValueError, match="Received: preset='resnet18.a1'"):
        km.from_preset("resnet18.a1")  # refused before the hub
    assert len(fake_hub.requests()) == asked


def test_pickle_only_repository_is_refused(fake_hub):
    fake_hub.add(f"timm/{V2}.old", {"config.json": _config(V2),
                                    "pytorch_model.bin": b"pickle"})
    with pytest.raises(WeightsError, match="only safetensors"):
        km.from_preset(f"hf-hub:timm/{V2}.old", **SMALL)
    assert not fake_hub.requests("pytorch_model.bin")


def test_folder_without_safetensors_is_refused(tmp_path):
    (tmp_path / "config.json").write_bytes(_config(V2))
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(WeightsError, match="no model.safetensors"):
        km.from_preset(str(tmp_path))


@pytest.mark.parametrize("arguments,match", [
    (dict(alpha=1.0), "alpha is set by the preset"),
    (dict(weights=None), "weights is set by the preset"),
    (dict(minimalistic=True), "minimalistic is not an argument of "
     "TimmMobileNetV2"),
])
def test_wrong_arguments_before_any_download(fake_hub, arguments, match):
    with pytest.raises(TypeError, match=match):
        km.from_preset(f"{V2}.{V2_TAG}", **arguments)
    assert not fake_hub.requests()


@pytest.mark.parametrize("preset", ["mobilenetv2_050", "a/b.c", 3])
def test_malformed_preset(preset):
    with pytest.raises((ValueError, TypeError), match="Received: preset="):
        km.from_preset(preset)


def test_command_line_predict_with_a_preset(tmp_path, states, capsys):
    from keras_mobilenets import cli, imagenet

    save_file(states[V2], str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_bytes(_config(V2))
    assert cli.main(["predict", "--preset", str(tmp_path), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{imagenet.SAMPLE_IMAGE}:" and len(lines) == 4
    assert cli.main(["predict", "--preset", str(tmp_path), "--model",
                     "MobileNet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "without --model" in err[0]


def _timm_names(fixture):
    with open(os.path.join(ROOT, "tests", "fixtures", fixture,
                           "checkpoints.json")) as f:
        return set(json.load(f)["pretrained_cfgs"])


# Every timm MobileNet checkpoint, V1 to V4: {"<architecture>.<tag>": (its
# registry entry, its record)}.
EVERY = {f"{c.model}.{c.tag}": (entry, c)
         for entry in registry.swept().values() if entry.timm_names()
         for c in entry.checkpoints}


def test_every_timm_checkpoint_is_a_preset():
    assert set(EVERY) == _timm_names("timm_v1_v3") | _timm_names("v4")
    assert len(EVERY) == 23 + len(_timm_names("v4"))


@pytest.mark.parametrize("name", sorted(EVERY))
def test_every_preset_resolves_without_the_hub(fake_hub, name):
    entry, checkpoint = EVERY[name]
    assert presets.resolve(name) == (entry, checkpoint.alpha, checkpoint.tag)
    assert presets.resolve(f"hf://timm/{name}")[:2] == (entry,
                                                       checkpoint.alpha)
    assert not fake_hub.requests()  # a registry name reads no config


# One built and loaded per family of timm's V1-V3 (V2 and V4 above); the
# in21k head with its 11221 classes.
BUILT = ["mobilenetv1_100h.ra4_e3600_r224_in1k", "mobilenetv2_110d.ra_in1k",
         "mobilenetv3_small_050.lamb_in1k", "mobilenetv3_rw.rmsp_in1k",
         "tf_mobilenetv3_small_minimal_100.in1k",
         "mobilenetv3_large_100.miil_in21k"]


@pytest.mark.parametrize("name", BUILT)
def test_preset_builds_and_loads(fake_hub, keras_home, name):
    entry, checkpoint = EVERY[name]
    state = dict(load_v1_v3(checkpoint.model)[1])
    width = state["classifier.weight"].shape[1]
    if checkpoint.num_classes != 1000:
        rng = np.random.default_rng(0)
        state["classifier.weight"] = rng.normal(
            0, 0.01, (checkpoint.num_classes, width)).astype("float32")
        state["classifier.bias"] = np.zeros(checkpoint.num_classes, "float32")
    _serve(fake_hub, f"timm/{name}", checkpoint.model, state)
    with pytest.warns(UserWarning, match="loading those for 224x224"):
        model = km.from_preset(name, **SMALL)
    _check_weights(model, state)
    assert model.output.shape == (None, checkpoint.num_classes)
    assert km.data_config(model)["weights"] == checkpoint.tag
    assert {f for _, _, _, f in fake_hub.requests()} == {"model.safetensors"}
    # Its classes decode: ImageNet-1k's, or the in21k head's 11221.
    preds = np.zeros((1, checkpoint.num_classes), "float32")
    preds[0, 7] = 1.0
    name_7 = imagenet.CLASS_INDEXES[checkpoint.num_classes]()[7]
    assert km.decode_predictions(preds, top=1, model=model)[0][0][:2] == name_7


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="export runs under TensorFlow only "
                           "(tests/test_export_command.py checks the refusal)")
def test_command_line_export_with_a_preset(tmp_path, states, capsys):
    """`export --preset FOLDER` writes the preset's network and weights."""
    from keras_mobilenets import cli, export

    folder = tmp_path / "preset"
    folder.mkdir()
    save_file(states[V4], str(folder / "model.safetensors"))
    (folder / "config.json").write_bytes(_config(V4))
    path = tmp_path / "v4.tflite"
    assert cli.main(["export", "--preset", str(folder), "--size", "64",
                     "--output", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {path}: LiteRT float32" in out
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    want = np.asarray(km.from_preset(str(folder), input_shape=(64, 64, 3))(x))
    got = export.run_file(str(path), x, "litert")
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())
    assert cli.main(["export", "--preset", str(folder), "--alpha", "0.5",
                     "--output", str(tmp_path / "x.tflite")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "without --model, --weights and --alpha" in err[0]
    assert not (tmp_path / "x.tflite").exists()
