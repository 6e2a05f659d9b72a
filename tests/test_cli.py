"""The command line: `keras-mobilenets list`, `predict`, `evaluate` and
`convert`."""

import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import ELEPHANT, V1_025_FILE, shared_file
import keras_mobilenets as km
from keras_mobilenets import builder, bundled, cli, imagenet, registry

CATS = {"tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "Egyptian_cat", "lynx"}


def test_list_prints_every_model_without_building_one(capsys, monkeypatch):
    def no_model(*args, **kwargs):
        pytest.fail("list built a model")

    monkeypatch.setattr(builder, "build", no_model)
    # Nor any layer or model by another route (a registry entry's builder).
    monkeypatch.setattr(keras.layers.Layer, "__init__", no_model)
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "trainable params" in out.splitlines()[0]
    for name, entry in registry.ENTRIES.items():  # MobileNetV5's too, once
        lines = [l for l in out.splitlines() if l.startswith(f"{name} ")]
        assert len(lines) == 1 and f"{entry.params:,}" in lines[0], name
    assert ".ra_in1k" not in out  # checkpoints only with --checkpoints


def test_list_checkpoints_names_every_timm_checkpoint_under_its_model(capsys):
    assert cli.main(["list", "--checkpoints"]) == 0
    lines = capsys.readouterr().out.splitlines()
    model = None
    listed = {}
    for line in lines[2:]:
        if line.startswith("  "):
            listed[line.split()[0]] = model
        else:
            model = line.split()[0]
    # Each under the model `from_preset` builds of it: Gemma 3n's, which
    # MobileNetV5_300MEncoder loads too, once, under MobileNetV5_300M.
    builds = registry.timm_names()
    expected = {f"{c.model}.{c.tag}": builds[c.model][0].name
                for entry in registry.ENTRIES.values()
                for c in entry.checkpoints if getattr(c, "model", None)}
    assert listed == expected
    assert len([l for l in lines[2:] if l.startswith("  ")]) == len(expected)
    assert listed["mobilenetv5_300m.gemma3n"] == "MobileNetV5_300M"
    assert len([n for n in listed
                if not n.startswith(("mobilenetv4", "mobilenetv5"))]) == 23
    line = next(l for l in lines if "mobilenetv3_large_100.miil_in21k " in l)
    assert "11221 classes" in line


# Widths are graph properties: one backend checks them all.
SWEPT = list(registry.swept()) if keras.backend.backend() == "tensorflow" \
    else ["MobileNetV2", "MobileNetV4ConvSmall"]


@pytest.mark.parametrize("name", SWEPT)
def test_listed_parameters_are_the_built_models_trainable_count(name):
    entry = registry.get(name)
    model = entry.builder(weights=None)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert entry.params == trainable


def test_predict_elephant_with_local_weights(capsys):
    weights = shared_file(V1_025_FILE)
    code = cli.main(["predict", ELEPHANT, "--model", "MobileNet", "--alpha", "0.25",
                     "--weights", weights])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{ELEPHANT}:"
    assert len(lines) == 6 and "African_elephant (n02504458)" in lines[1]


def test_predict_without_image_classifies_the_shipped_sample(capsys):
    weights = shared_file(V1_025_FILE)
    assert cli.main(["predict", "--model", "MobileNet", "--alpha", "0.25",
                     "--weights", weights]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("chelsea.jpg:")
    assert lines[1].split()[1] in CATS


def test_predict_offline_without_weights_is_one_clear_sentence(keras_home, capsys):
    # Offline here and in CI; a short timeout keeps a firewall that drops
    # packets from hanging the test.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        code = cli.main(["predict", "--model", "MobileNetV3Small"])
    finally:
        socket.setdefaulttimeout(previous)
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("keras-mobilenets: error: cannot download")
    assert "--weights PATH" in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("argv, message", [
    (["predict", "/no/such.jpg", "--model", "MobileNet"], "no image file"),
    (["predict", "--model", "MobileNet", "--weights", "/no/such.h5"],
     "not an existing file"),
])
def test_predict_bad_input_is_one_line(argv, message, capsys):
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_console_entry_point_runs(tmp_path):
    """The README's main command: no model named, an empty Keras cache."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               KERAS_HOME=str(tmp_path / "empty_keras_home"))
    result = subprocess.run(
        [sys.executable, "-m", "keras_mobilenets.cli", "predict"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("chelsea.jpg:") and lines[1].split()[1] in CATS


def test_predict_without_a_model_uses_the_shipped_weights_offline(
        keras_home, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        pytest.fail("predict without --model reached for the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(keras.utils, "get_file", no_network)
    assert cli.main(["predict"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("chelsea.jpg:")
    assert lines[1].split()[1] in CATS  # a cat class first
    assert list(keras_home.rglob("*.h5")) == []  # nothing downloaded


def test_shipped_weights_are_the_shared_file_and_checked_on_load(
        tmp_path, monkeypatch, capsys):
    with open(bundled.FILE, "rb") as f, open(shared_file(V1_025_FILE), "rb") as g:
        assert f.read() == g.read()
    assert bundled.weights_file() == bundled.FILE
    damaged = tmp_path / "damaged.h5"
    data = bytearray(open(bundled.FILE, "rb").read())
    data[len(data) // 2] ^= 0xFF  # one byte flipped
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(bundled, "FILE", str(damaged))
    assert cli.main(["predict"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0] and bundled.SHA256 in err[0]


def test_convert_takes_a_source_then_its_arguments(capsys):
    with pytest.raises(SystemExit):
        cli.main(["convert", "onnx", "in.onnx", "out.h5", "--model", "x"])
    assert "invalid choice: 'onnx'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["convert", "torchvision", "ssdlite320_mobilenet_v3_small",
                  "out.h5"])
    assert "ssdlite320_mobilenet_v3_large" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["convert", "timm", "in.safetensors", "out.h5",
                  "--model", "resnet50"])
    err = capsys.readouterr().err  # timm's MobileNets V1 to V4 are choices
    assert "mobilenetv4_conv_small" in err and "mobilenetv2_120d" in err


def _imagenet_folder(root):
    """An ImageNet-layout folder from real photos: two elephants (one turned
    portrait), one tabby cat."""
    elephants, cats = root / "n02504458", root / "n02123045"
    elephants.mkdir(parents=True)
    cats.mkdir()
    with Image.open(ELEPHANT) as im:
        im.save(elephants / "a.jpg")
        im.transpose(Image.Transpose.ROTATE_90).save(elephants / "b.png")
    with Image.open(imagenet.SAMPLE_IMAGE) as im:
        im.save(cats / "c.jpg")
    (cats / "notes.txt").write_text("not an image")
    return [elephants / "a.jpg", elephants / "b.png", cats / "c.jpg"], [386, 386, 281]


def test_evaluate_prints_top1_and_top5_of_a_folder(tmp_path, capsys):
    weights = shared_file(V1_025_FILE)
    paths, labels = _imagenet_folder(tmp_path / "val")
    assert cli.main(["evaluate", "--data", str(tmp_path / "val"), "--model",
                     "MobileNet", "--alpha", "0.25", "--weights", weights,
                     "--batch-size", "2"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    # The same, computed here with the public pieces.
    model = km.MobileNet(alpha=0.25, weights=weights)
    transform = km.eval_transform("MobileNet")
    x = km.mobilenet.preprocess_input(np.stack([transform(p) for p in paths]))
    best = np.argsort(-model.predict(x, verbose=0), axis=1)[:, :5]
    top1 = np.mean(best[:, 0] == labels)
    top5 = np.mean([label in row for label, row in zip(labels, best)])
    assert best[0, 0] == 386  # the elephant, as a check of the photo
    assert last == (f"MobileNet on {tmp_path / 'val'}: top-1 {top1:.2%}, "
                    f"top-5 {top5:.2%} (3 images)")


def test_evaluate_refuses_a_folder_without_class_ids(tmp_path, capsys):
    (tmp_path / "cats").mkdir()
    assert cli.main(["evaluate", "--data", str(tmp_path), "--model",
                     "MobileNet", "--weights", "/no/such.h5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an existing file" in err[0]
    weights = shared_file(V1_025_FILE)
    assert cli.main(["evaluate", "--data", str(tmp_path), "--model",
                     "MobileNet", "--alpha", "0.25", "--weights", weights]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "WordNet id" in err[0] and "Received: cats" in err[0]


def test_the_command_starts_quietly():
    """No oneDNN notice, no absl warning: the program name is the console
    script's (`keras-mobilenets`); --verbose keeps them (not asserted: a
    build of TensorFlow may print nothing)."""
    code = ("import sys; sys.argv = ['keras-mobilenets', 'list']; "
            "from keras_mobilenets.cli import main; sys.exit(main())")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_MOBILENETS_VERBOSE")}
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
        + [p for p in [os.environ.get("PYTHONPATH")] if p])
    run = subprocess.run([sys.executable, "-c", code], env=env, timeout=300,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr == "", run.stderr[-2000:]
    assert "MobileNetV4ConvSmall" in run.stdout


def test_list_names_each_tag_once(capsys):
    assert cli.main(["list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines()
                if l.startswith("TimmMobileNetV1 "))
    assert line.count("ra4_e3600_r224_in1k") == 1
