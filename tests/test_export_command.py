"""`keras-mobilenets export`: LiteRT float32 and int8 and ONNX files, their
printed size, difference from Keras and int8 agreement (TensorFlow
backend); the clear errors for bad arguments and other backends."""

import re

import keras
import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import wide_photo
from keras_mobilenets import bundled, cli, export
from keras_mobilenets.imagenet import SAMPLE_IMAGE

BACKEND = keras.backend.backend()
ON_TENSORFLOW = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="export runs under TensorFlow only; "
    "test_other_backends_are_told_to_use_tensorflow checks the refusal")
WROTE = re.compile(r"wrote (\S+): (LiteRT float32|LiteRT int8|ONNX), "
                   r"([\d,]+) bytes \(([\d.]+) MB\)")
DIFF = re.compile(r"max abs diff vs Keras: (\S+) on (\d+) (?:inputs|held-back)"
                  r".*; outputs up to (\S+); relative (\S+)")
AGREE = re.compile(r"int8 agreement .* on (\d+) held-back images: top-1 "
                   r"([\d.]+)% \((\d+)/(\d+)\), top-5 ([\d.]+)% \((\d+)/(\d+);")


def _crops(folder, per_photo=5):
    """JPEG crops (some mirrored) of two photos of the package's cat (one
    mirrored and stretched): the stretched one first."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    wide = wide_photo(folder.parent / "wide.jpg")
    for k, source in enumerate((wide, SAMPLE_IMAGE)):
        with Image.open(source) as image:
            image = image.convert("RGB")
        width, height = image.size
        for i in range(per_photo):
            f = rng.uniform(0.6, 0.9)
            w, h = int(width * f), int(height * f)
            left, top = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
            crop = image.crop((left, top, left + w, top + h))
            (ImageOps.mirror(crop) if i % 2 else crop).save(
                folder / f"{k}_{i}.jpg", quality=90)
    return folder


def _run(argv, capsys):
    code = cli.main(["export", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    wrote = WROTE.search(out)
    diff = DIFF.search(out)
    assert wrote and diff, out
    return out, wrote, diff


def _size(wrote, path):
    nbytes = int(wrote.group(3).replace(",", ""))
    assert path.stat().st_size == nbytes > 0
    assert abs(float(wrote.group(4)) - nbytes / 1e6) < 0.01
    return nbytes


@ON_TENSORFLOW
def test_litert_float32_file_computes_the_keras_outputs(tmp_path, capsys):
    path = tmp_path / "v3.tflite"
    out, wrote, diff = _run(
        ["--model", "MobileNetV3Small", "--alpha", "0.75", "--weights", "none",
         "--size", "64", "--output", str(path)], capsys)
    assert wrote.group(1) == str(path) and wrote.group(2) == "LiteRT float32"
    _size(wrote, path)
    # Initial weights: a softmax near 1/1000, hence the relative figure.
    assert int(diff.group(2)) == 4 and 0 < float(diff.group(3)) <= 1
    assert float(diff.group(4)) <= 1e-4, out
    assert "int8" not in out


@ON_TENSORFLOW
def test_onnx_file_of_v4_computes_the_keras_outputs(tmp_path, capsys):
    """V4's in-model Normalization is written back into tf2onnx's file."""
    path = tmp_path / "v4.onnx"
    out, wrote, diff = _run(
        ["--model", "MobileNetV4ConvSmall", "--alpha", "0.5", "--weights",
         "none", "--size", "64", "--format", "onnx", "--output", str(path)],
        capsys)
    assert wrote.group(2) == "ONNX"
    _size(wrote, path)
    assert float(diff.group(4)) <= 1e-4, out


@ON_TENSORFLOW
def test_int8_calibrates_on_part_of_the_folder_and_agrees_on_the_rest(
        tmp_path, capsys):
    folder = _crops(tmp_path / "photos")
    path = tmp_path / "int8.tflite"
    weights = bundled.weights_file()  # real ImageNet weights, shipped
    out, wrote, diff = _run(
        ["--model", "MobileNet", "--alpha", "0.25", "--weights", weights,
         "--int8", "--calibration", str(folder), "--output", str(path)],
        capsys)
    assert wrote.group(2) == "LiteRT int8"
    # One byte a weight: well under float32's 4 (470,000 parameters).
    assert _size(wrote, path) < 0.4 * 4 * 470_000
    # Every 5th image from the first held back: 0_0 and 1_0 of ten.
    assert f"calibrated on 8 images of {folder}; 2 held back" in out
    agree = AGREE.search(out)
    assert agree, out
    held, top1, n1, d1, top5, n5, d5 = (float(g) for g in agree.groups())
    assert held == d1 == d5 == 2 and int(diff.group(2)) == 2
    assert abs(top1 - 100 * n1 / d1) < 0.1 and abs(top5 - 100 * n5 / d5) < 0.1
    # Real weights on real photos: the float class stays in int8's top 5,
    # the probabilities within a few tenths.
    assert n5 == 2 and n1 >= 1 and "tie" not in out, out
    assert float(diff.group(1)) < 0.3 and float(diff.group(4)) < 1, out


def test_calibration_split_holds_back_every_fifth_image(tmp_path):
    for i in range(11):
        (tmp_path / f"{i:02d}.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    calibration, held = export.calibration_images(str(tmp_path))
    names = lambda paths: [p[-6:-4] for p in paths]
    assert names(held) == ["00", "05", "10"]
    assert len(calibration) == 8 and not set(held) & set(calibration)


def test_agreement_counts_top1_and_float_top1_in_top5():
    want = np.eye(6)[[0, 1, 2]]
    got = np.array([[9, 0, 0, 0, 0, 0],       # same class
                    [5, 1, 4, 3, 2, 0],       # 5th of six
                    [0, 0, -1, 1, 1, 1.]])    # last
    assert export.agreement(got, want) == (1 / 3, 2 / 3)


def test_ties_are_counted():
    assert export.tied(np.array([[0, 0, 0.], [1, 0, 1], [1, 2, 0]])) == 2
    assert export.tied(np.eye(3)) == 0
    assert export.tie_note(0, 8) is None
    assert export.tie_note(8, 8).endswith(
        "tie on 8 of 8 images (initial weights?): the agreement says nothing there")
    assert export.tie_note(1, 8) == ("note: the int8 top class is a tie on 1 "
                                     "of 8 images: the agreement says nothing there")


@pytest.mark.parametrize("argv, message", [
    (["--format", "onnx", "--int8", "--calibration", "."],
     "`--int8` quantizes LiteRT files only"),
    (["--int8"], "Received: --int8 without --calibration"),
    (["--calibration", "."], "without --int8"),
    (["--int8", "--calibration", "EMPTY"], "needs at least 2 images"),
    (["--int8", "--calibration", "MISSING"], "is not a folder"),
])
def test_bad_arguments_are_one_clear_error(argv, message, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = [{"EMPTY": str(tmp_path / "empty"),
             "MISSING": str(tmp_path / "missing")}.get(a, a) for a in argv]
    code = cli.main(["export", "--model", "MobileNet", "--output",
                     str(tmp_path / "m.tflite"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("keras-mobilenets: error:") and message in err[0]
    assert "Received:" in err[0]
    assert not (tmp_path / "m.tflite").exists()


def test_unknown_format_is_refused_with_the_allowed_ones(capsys):
    with pytest.raises(SystemExit):
        cli.main(["export", "--format", "tflite", "--output", "m.tflite"])
    err = capsys.readouterr().err
    assert "invalid choice: 'tflite'" in err and "'litert', 'onnx'" in err


@pytest.mark.skipif(BACKEND == "tensorflow", reason="the refusal is for the "
                    "other backends; the tests above export on TensorFlow")
def test_other_backends_are_told_to_use_tensorflow(tmp_path, capsys):
    code = cli.main(["export", "--model", "MobileNet", "--weights", "none",
                     "--output", str(tmp_path / "m.tflite")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert "KERAS_BACKEND=tensorflow" in err[0]
    assert f"Received: backend {BACKEND!r}" in err[0]
    assert not (tmp_path / "m.tflite").exists()
