"""`keras_mobilenets.train` and `keras-mobilenets train`: a tiny generated
folder of 3 classes, MobileNet alpha 0.25 (the shipped weights) at 32x32;
one run interrupted (Ctrl-C after its first epoch) and resumed gives the
output folder every other test reads; the bad inputs fail before training."""

import csv
import os

import keras
import numpy as np
import pytest
from PIL import Image

import keras_mobilenets as km
from keras_mobilenets import cli, training

CLASSES = ("cat", "dog", "fox")  # sorted: the model's class order
COLOURS = ((200, 40, 40), (40, 200, 40), (40, 40, 200))
TINY = dict(size=32, batch_size=4, seed=0, verbose=0)


def make_folder(root, per_class=6, classes=CLASSES):
    rng = np.random.default_rng(0)
    for name, colour in zip(classes, COLOURS):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 30, (40, 48, 3)),
                             0, 255).astype("uint8")
            Image.fromarray(pixels).save(folder / f"{i}.{'jpg' if i % 2 else 'png'}")
    return root


class Interrupt(keras.callbacks.Callback):
    """Ctrl-C at the end of the first epoch, after the checkpoint."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run of two epochs with the backbone unfrozen, interrupted after the
    first and resumed: (data folder, output folder, model, history,
    what the interrupted run left)."""
    root = tmp_path_factory.mktemp("train")
    data = make_folder(root / "data")
    (data / "cat" / "notes.txt").write_text("not an image")
    (data / "dog" / "broken.jpg").write_bytes(b"not a jpeg")
    out = root / "out"
    with pytest.raises(KeyboardInterrupt):
        km.train(str(data), output=str(out), epochs=2, frozen_epochs=0,
                 callbacks=[Interrupt()], **TINY)
    left = sorted(os.listdir(out)), sorted(os.listdir(out / ".checkpoint"))
    model, history = km.train(str(data), output=str(out), resume=True,
                              verbose=0)
    return data, out, model, history, left


def test_an_interrupted_run_leaves_a_checkpoint_and_no_model_file(run):
    _, _, _, _, (files, checkpoint) = run
    assert "model.keras" not in files
    assert files == [".checkpoint", "history.csv"]
    assert checkpoint == ["best.weights.h5", "last.keras", "state.json"]


def test_resume_continues_epochs_and_optimizer_steps(run):
    _, out, model, history, _ = run
    assert history.epoch == [0, 1]
    # 18 images, 1 a class held for validation: 15 train images, 3 steps of
    # 4 an epoch; the resumed optimizer went on counting.
    assert int(model.optimizer.iterations) == 2 * 3
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {r["stage"] for r in rows} == {"unfrozen"}
    assert not (out / ".checkpoint").exists()  # a finished run


def test_output_folder(run):
    data, out, model, _, _ = run
    assert sorted(os.listdir(out)) == sorted(
        ["model.keras", "labels.txt", "history.csv", "report.md",
         "confusion.png", "curves.png", "errors.png"])
    assert (out / "labels.txt").read_text().splitlines() == list(CLASSES)
    for name in ("confusion.png", "curves.png", "errors.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) > 100
    text = (out / "report.md").read_text()
    assert "val accuracy: **" in text
    assert all(f"| {c} |" in text for c in CLASSES)
    assert "files skipped: 2" in text and "broken.jpg" in text
    assert "images/s" in text and "| learning_rate | 0.001 |" in text

    loaded = keras.saving.load_model(out / "model.keras")
    assert isinstance(loaded, km.Model)
    assert [n for n, _ in loaded.class_names] == list(CLASSES)
    assert loaded.data_config["input_size"] == (3, 32, 32)
    image = np.asarray(Image.open(data / "cat" / "0.png"), "float32")[None]
    x = keras.ops.image.resize(image, (32, 32))
    got = keras.ops.convert_to_numpy(loaded.predict(x, verbose=0))
    want = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    np.testing.assert_allclose(got, want, atol=1e-5)  # the best weights kept
    assert got.shape == (1, 3) and abs(got.sum() - 1) < 1e-5


def test_predict_and_evaluate_take_the_model_file(run, capsys):
    data, out, _, _, _ = run
    photo = str(data / "fox" / "1.jpg")
    assert cli.main(["predict", photo, "--model-file",
                     str(out / "model.keras")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{photo}:" and len(lines) == 4  # three classes
    assert sorted(line.split()[-1] for line in lines[1:]) == list(CLASSES)
    assert cli.main(["evaluate", "--data", str(data), "--model-file",
                     str(out / "model.keras")]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert "top-1 " in last and "top-5 100.00% (18 images)" in last
    assert cli.main(["predict", photo, "--model-file", str(out / "model.keras"),
                     "--model", "MobileNetV2"]) == 1
    assert "without --model" in capsys.readouterr().err


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="one child-process export is enough (JAX's)")
def test_export_litert_whatever_backend_trained(run, tmp_path, capsys):
    """Under TensorFlow in process, else in a TensorFlow child process."""
    pytest.importorskip("ai_edge_litert")
    data, out, _, _, _ = run
    check = [str(data / c / "0.png") for c in CLASSES]
    result = training.exporting.run(str(out / "model.keras"), "litert",
                                    str(tmp_path / "model.tflite"), check)
    assert (tmp_path / "model.tflite").stat().st_size > 1e5
    assert result["max_abs_diff"] < 1e-4  # softmax outputs, float32
    assert result["top1_agreement"] == 1.0
    assert "max abs diff vs Keras" in capsys.readouterr().out


def _fails_before_training(monkeypatch, match, data, out, **kwargs):
    def no_fit(*args, **kwargs):
        pytest.fail("training started")

    monkeypatch.setattr(keras.Model, "fit", no_fit)
    with pytest.raises(ValueError, match=match):
        km.train(str(data), output=str(out), **{**TINY, **kwargs})


def test_bad_folders_fail_before_training(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    _fails_before_training(monkeypatch, "no sub-folder", tmp_path / "empty",
                           tmp_path / "a")
    one = make_folder(tmp_path / "one", classes=("cat",))
    _fails_before_training(monkeypatch, "one class folder", one,
                           tmp_path / "b")
    hollow = make_folder(tmp_path / "hollow")
    for f in (hollow / "dog").iterdir():
        f.unlink()
    (hollow / "dog" / "readme.txt").write_text("no image")
    _fails_before_training(monkeypatch, r"no image in dog", hollow,
                           tmp_path / "c")
    _fails_before_training(monkeypatch, "No folder", tmp_path / "absent",
                           tmp_path / "d")


def test_bad_settings_fail_before_training(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "model.keras").write_text("an earlier run")
    _fails_before_training(monkeypatch, "exists and is not empty", data, busy)
    _fails_before_training(monkeypatch, "holds none", data, tmp_path / "new",
                           resume=True)
    _fails_before_training(monkeypatch, "cannot take --size 16", data,
                           tmp_path / "e", size=16)
    _fails_before_training(monkeypatch, "--export litert", data,
                           tmp_path / "f", export="onnx", int8=True)
    _fails_before_training(monkeypatch, "epochs", data, tmp_path / "g",
                           epochs=0)


def test_split_is_stratified_and_deterministic(tmp_path):
    data = make_folder(tmp_path / "data", per_class=10)
    names, items, skipped = training.folders.splits(str(data), 0.2, seed=0)
    again = training.folders.splits(str(data), 0.2, seed=0)
    assert names == list(CLASSES) and not skipped
    assert items == again[1]
    assert [c for _, c in items["val"]] == [0, 0, 1, 1, 2, 2]
    assert len(items["train"]) == 24
    assert not {p for p, _ in items["val"]} & {p for p, _ in items["train"]}


def test_train_and_val_folders_are_read_as_given(tmp_path):
    make_folder(tmp_path / "data" / "train")
    make_folder(tmp_path / "data" / "val", per_class=2)
    make_folder(tmp_path / "data" / "test", per_class=1)
    names, items, _ = training.folders.splits(str(tmp_path / "data"))
    assert names == list(CLASSES)
    assert [len(items[s]) for s in ("train", "val", "test")] == [18, 6, 3]


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="keras.distribution has no PyTorch implementation")
def test_devices_all_trains_data_parallel(tmp_path):
    """Two simulated CPU devices, in a fresh process (tests/train_devices.py)."""
    import json
    import subprocess
    import sys

    from conftest import ROOT

    make_folder(tmp_path / "data")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    child = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "train_devices.py"),
         str(tmp_path)], env=env, timeout=600, capture_output=True, text=True)
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["devices"] == 2  # the variables are replicated on both
    assert result["epochs"] == 1 and "model.keras" in result["files"]


def test_the_command_reports_bad_input_as_an_error(tmp_path, capsys):
    one = make_folder(tmp_path / "one", classes=("cat",))
    assert cli.main(["train", str(one), "--output", str(tmp_path / "o"),
                     "--size", "32"]) == 1
    assert "one class folder (cat)" in capsys.readouterr().err
    data = make_folder(tmp_path / "data")
    assert cli.main(["train", str(data), "--output", str(tmp_path / "o"),
                     "--int8", "--qat", "--export", "litert"]) == 1
    assert "pass one" in capsys.readouterr().err


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="TensorFlow's int8 converter; the child-process "
                    "path is tested with float LiteRT")
def test_export_int8_is_calibrated_on_training_images(run, tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    data, out, _, _, _ = run
    check = [str(data / c / "0.png") for c in CLASSES]
    calibration = [str(data / c / f"{i}.jpg") for c in CLASSES for i in (1, 3)]
    training.exporting.run(str(out / "model.keras"), "litert",
                           str(tmp_path / "int8.tflite"), check, calibration)
    assert "LiteRT int8" in capsys.readouterr().out
    assert (tmp_path / "int8.tflite").stat().st_size < \
        (out / "model.keras").stat().st_size / 2  # 8-bit weights


def test_initial_weights_train_batch_norm_without_a_frozen_stage():
    pretrained = {"frozen_epochs": None, "fine_tune_factor": None,
                  "epochs": 10}
    scratch = dict(pretrained)
    training._pretrained_or_not(pretrained, True)
    training._pretrained_or_not(scratch, False)
    assert (pretrained["frozen_epochs"], pretrained["fine_tune_factor"],
            pretrained["train_batch_norm"]) == (2, 0.1, False)
    assert (scratch["frozen_epochs"], scratch["fine_tune_factor"],
            scratch["train_batch_norm"]) == (0, 1.0, True)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the QAT stage's own code is backend-free; QAT "
                    "training and the child-process QAT export are tested "
                    "on every backend in test_quantization.py")
def test_qat_fine_tunes_last_and_exports_its_int8_file(tmp_path, capsys):
    """--qat: the float stages, then quantization-aware epochs from the
    best float weights; model_qat.keras holds the learned ranges and the
    int8 LiteRT file is made from them, checked against the QAT model."""
    pytest.importorskip("ai_edge_litert")
    from keras_mobilenets import quantization

    data = make_folder(tmp_path / "data")
    out = tmp_path / "out"
    model, _ = km.train(str(data), output=str(out), epochs=1,
                        frozen_epochs=0, export="litert", qat=True,
                        qat_epochs=1, **TINY)
    printed = capsys.readouterr().out
    assert "LiteRT int8 (quantization-aware)" in printed, printed
    assert "top-1 agreement" in printed, printed
    qat = keras.saving.load_model(out / "model_qat.keras")
    ranges = [layer.range() for layer in qat.layers
              if isinstance(layer, quantization.ActivationQuantizer)]
    assert ranges and all(float(high) > float(low) for low, high in ranges)
    assert qat.class_names == model.class_names
    # int8 weights: a quarter of the float file's bytes, and some more
    assert (out / "model.tflite").stat().st_size < \
        (out / "model.keras").stat().st_size / 2
    assert not (out / ".checkpoint").exists()


def test_qat_needs_litert_export(tmp_path, monkeypatch):
    make_folder(tmp_path / "data")
    _fails_before_training(monkeypatch, "--export litert", tmp_path / "data",
                           tmp_path / "out", qat=True)
