"""Detection training and evaluation (issue 21): the tf.data pipeline into
`fit` with `ssd_loss`, COCO mAP through pycocotools, and the command line's
`evaluate --task detection` and `detect`."""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import wide_photo
from keras_mobilenets import cli, detection, imagenet
from keras_mobilenets.detection import coco, data, predict

SIZE = (128, 128)
# The smallest backbone keeps fit and predict to seconds.
BACKBONE = "MobileNet"
TINY = {"alpha": 0.25}


def _anchors(size=SIZE):
    return detection.default_boxes(size, detection.ssdlite_feature_sizes(size))


# Two images of different sizes: their boxes (xyxy pixels) and labels.
IMAGES = [np.random.default_rng(0).uniform(0, 255, (96, 160, 3)),
          np.random.default_rng(1).uniform(0, 255, (200, 100, 3))]
BOXES = [np.array([[16.0, 8.0, 80.0, 72.0], [100.0, 30.0, 150.0, 90.0]]),
         np.array([[10.0, 20.0, 90.0, 180.0]])]
LABELS = [np.array([1, 3]), np.array([2])]


def _resized_targets(anchors):
    """encode_targets of each image's boxes scaled to SIZE by hand."""
    out = []
    for image, boxes, labels in zip(IMAGES, BOXES, LABELS):
        scaled = predict.scale_boxes(boxes, image.shape[:2], SIZE)
        out.append(detection.encode_targets(scaled, labels, anchors))
    return out


def _first_batch(ds):
    images, y = next(iter(ds))
    return (images.numpy(), {k: v.numpy() for k, v in y.items()})


def test_pipeline_resizes_pads_and_encodes():
    anchors = _anchors()
    ds = data.training_dataset(data.examples(IMAGES, BOXES, LABELS), anchors,
                               SIZE, batch_size=2, augmentation=[])
    images, y = _first_batch(ds)
    assert images.shape == (2,) + SIZE + (3,) and images.dtype == np.float32
    np.testing.assert_allclose(images[0].mean(), IMAGES[0].mean(), rtol=0.02)
    for i, expected in enumerate(_resized_targets(anchors)):
        np.testing.assert_array_equal(y["cls_logits"][i],
                                      expected["cls_logits"])
        np.testing.assert_allclose(y["bbox_regression"][i],
                                   expected["bbox_regression"], atol=1e-4)
    assert (y["cls_logits"][1] > 0).sum() > 0  # the padded row left out


@pytest.mark.parametrize("fmt", ["rel_yxyx", "center_xywh"])
def test_pipeline_takes_keras_box_formats(fmt):
    anchors = _anchors()
    converted = [keras.ops.convert_to_numpy(
        keras.utils.bounding_boxes.convert_format(
            b.astype("float32"), "xyxy", fmt, height=i.shape[0],
            width=i.shape[1])) for i, b in zip(IMAGES, BOXES)]
    ds = data.training_dataset(
        data.examples(IMAGES, converted, LABELS, bounding_box_format=fmt),
        anchors, SIZE, batch_size=2, bounding_box_format=fmt,
        augmentation=[])
    _, y = _first_batch(ds)
    for i, expected in enumerate(_resized_targets(anchors)):
        np.testing.assert_array_equal(y["cls_logits"][i],
                                      expected["cls_logits"])
        np.testing.assert_allclose(y["bbox_regression"][i],
                                   expected["bbox_regression"], atol=1e-3)


def test_box_aware_flip_moves_the_targets_with_the_image():
    """keras.layers.RandomFlip(bounding_box_format=...) on the batch: each
    image is flipped or not, and its targets are those of its boxes flipped
    or not alike."""
    anchors = _anchors()
    flip = keras.layers.RandomFlip("horizontal", bounding_box_format="xyxy",
                                   seed=3)
    plain = _first_batch(data.training_dataset(
        data.examples(IMAGES, BOXES, LABELS), anchors, SIZE, batch_size=2,
        augmentation=[]))
    flipped_boxes = [np.stack([SIZE[1] - b[:, 2], b[:, 1], SIZE[1] - b[:, 0],
                               b[:, 3]], -1) for b in (
        predict.scale_boxes(b, i.shape[:2], SIZE)
        for i, b in zip(IMAGES, BOXES))]
    seen = set()
    for _ in range(4):
        images, y = _first_batch(data.training_dataset(
            data.examples(IMAGES, BOXES, LABELS), anchors, SIZE,
            batch_size=2, augmentation=[flip]))
        for i in range(2):
            was_flipped = not np.allclose(images[i], plain[0][i])
            if was_flipped:
                np.testing.assert_allclose(images[i], plain[0][i][:, ::-1],
                                           atol=1e-3)
                expected = detection.encode_targets(flipped_boxes[i],
                                                    LABELS[i], anchors)
            else:
                expected = {k: v[i] for k, v in plain[1].items()}
            np.testing.assert_array_equal(y["cls_logits"][i],
                                          expected["cls_logits"])
            np.testing.assert_allclose(y["bbox_regression"][i],
                                       expected["bbox_regression"], atol=1e-3)
            seen.add(was_flipped)
    assert seen == {True, False}


def test_default_augmentation_keeps_targets_valid():
    anchors = _anchors()
    ds = data.training_dataset(data.examples(IMAGES, BOXES, LABELS), anchors,
                               SIZE, batch_size=2, seed=1)
    images, y = _first_batch(ds)
    assert images.shape == (2,) + SIZE + (3,)
    assert images.min() >= 0.0 and images.max() <= 255.0
    assert set(np.unique(y["cls_logits"])) <= {0, 1, 2, 3}
    assert np.isfinite(y["bbox_regression"]).all()
    fg = y["bbox_regression"][..., 4] > 0
    np.testing.assert_array_equal(fg, y["cls_logits"] > 0)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 700x466 photo (the package's cat, mirrored and stretched)."""
    return wide_photo(tmp_path_factory.mktemp("photo") / "wide.jpg")


def test_ssdlite_fits_from_the_pipeline(photo):
    """SSDLite compiled with ssd_loss() fits two steps from the pipeline:
    finite losses, the loss of the same batch going down, weights moving."""
    keras.utils.set_random_seed(0)
    model = detection.SSDLite(BACKBONE, num_classes=4,
                              input_shape=SIZE + (3,),
                              backbone_arguments=TINY)
    anchors = data.anchors_for(model)
    np.testing.assert_array_equal(anchors, _anchors())
    ds = data.training_dataset(
        data.examples([photo, imagenet.SAMPLE_IMAGE],
                      [[[50, 40, 600, 400]], [[100, 20, 300, 250],
                                              [10, 10, 60, 50]]],
                      [[1], [2, 3]]),
        anchors, SIZE, batch_size=2, augmentation=[])
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=detection.ssd_loss())
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    history = model.fit(ds.take(1).cache().repeat(), steps_per_epoch=1,
                        epochs=2, shuffle=False, verbose=0).history
    losses = np.array(history["loss"])
    assert np.isfinite(losses).all() and losses[1] < losses[0], history
    np.testing.assert_allclose(
        losses, np.add(history["bbox_regression_loss"],
                       history["cls_logits_loss"]), rtol=1e-5)
    moved = [not np.allclose(b, keras.ops.convert_to_numpy(w))
             for b, w in zip(before, model.trainable_weights)]
    assert all(moved[-8:]) and sum(moved) > len(moved) // 2


def test_anchors_for_refuses_other_models():
    with pytest.raises(ValueError, match="SSDLite"):
        data.anchors_for(keras.Sequential([keras.Input((32, 32, 3)),
                                           keras.layers.Flatten()]))


def test_pipeline_bad_arguments():
    with pytest.raises(ValueError, match="one entry per image"):
        data.examples(IMAGES, BOXES[:1], LABELS)
    with pytest.raises(ValueError, match="bounding_box_format"):
        data.examples(IMAGES, BOXES, LABELS, bounding_box_format="xyz")
    with pytest.raises(ValueError, match="bounding_box_format='xyxy'"):
        data.training_dataset(
            data.examples(IMAGES, BOXES, LABELS), _anchors(), SIZE,
            augmentation=[keras.layers.RandomFlip(
                bounding_box_format="yxyx")])


# COCO: a tiny COCO-format folder of three photos (the package's cat at
# two other sizes, and as it is) with made-up boxes, the same in relative
# terms on each, so one model's constant output detects them all.
REL_BOXES = np.array([[0.1, 0.2, 0.5, 0.9], [0.55, 0.1, 0.95, 0.6]])
CATEGORIES = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
REL_LABELS = np.array([1, 3])


@pytest.fixture(scope="module")
def coco_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coco")
    (folder / "val").mkdir()
    (folder / "annotations").mkdir()
    wide = Image.open(wide_photo(folder / "val" / "wide.jpg"))
    wide.resize((240, 300)).save(folder / "val" / "tall.jpg")
    Image.open(imagenet.SAMPLE_IMAGE).convert("RGB").save(
        folder / "val" / "cat.jpg")
    images, annotations = [], []
    for i, name in enumerate(["wide.jpg", "tall.jpg", "cat.jpg"], 1):
        width, height = Image.open(folder / "val" / name).size
        images.append({"id": i * 7, "file_name": name, "width": width,
                       "height": height})
        for box, label in zip(REL_BOXES, REL_LABELS):
            x1, y1, x2, y2 = (box * [width, height, width, height]).tolist()
            annotations.append({
                "id": len(annotations) + 1, "image_id": i * 7,
                "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    with open(folder / "annotations" / "instances_val.json", "w") as f:
        json.dump({"images": images, "annotations": annotations,
                   "categories": CATEGORIES}, f)
    return str(folder)


def _ground_truth_detections(gt, ids, drop=None):
    out = []
    for i in ids:
        anns = [a for a in gt.imgToAnns[i] if a["id"] != drop]
        boxes = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        out.append({"boxes": boxes, "scores": np.ones(len(anns), np.float32),
                    "labels": np.array([a["category_id"] for a in anns])})
    return out


def test_ground_truth_as_detections_scores_map_one(coco_folder):
    gt, ids, paths = coco.load(coco_folder)
    assert [os.path.basename(p) for p in paths] == [
        "wide.jpg", "tall.jpg", "cat.jpg"] and ids == [7, 14, 21]
    result = coco.coco_metrics(gt, coco.to_results(
        ids, _ground_truth_detections(gt, ids)))
    assert result["AP"] == pytest.approx(1.0) and result["AP50"] == 1.0
    missed = coco.coco_metrics(gt, coco.to_results(
        ids, _ground_truth_detections(gt, ids, drop=1)))
    assert missed["AR100"] < 0.99 and missed["AP"] < 0.99
    assert coco.coco_metrics(gt, []) == dict.fromkeys(coco.STATS, 0.0)


def _constant_detector(size, num_classes):
    """A model whose outputs are, for any image, the targets of REL_BOXES
    at `size`, as logits confident in their classes: a Dense layer with a
    zero kernel and the targets as bias."""
    anchors = _anchors(size)
    boxes = REL_BOXES * [size[1], size[0], size[1], size[0]]
    y = detection.encode_targets(boxes, REL_LABELS, anchors)
    logits = 12.0 * keras.ops.convert_to_numpy(keras.ops.one_hot(
        y["cls_logits"], num_classes))
    inputs = keras.Input(size + (3,))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = {}
    for key, values in (("bbox_regression", y["bbox_regression"][:, :4]),
                        ("cls_logits", logits)):
        dense = keras.layers.Dense(
            values.size, kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(values.ravel()))
        outputs[key] = keras.layers.Reshape(values.shape, name=key)(
            dense(pooled))
    return keras.Model(inputs, outputs)


def test_evaluate_a_model_that_finds_the_ground_truth(coco_folder):
    """The model path (resize, predict, post-process, boxes back in each
    image's pixels, COCO's ids) of a model that outputs the ground truth's
    encoding scores mAP 1.0; with the labels mapped elsewhere, 0."""
    model = _constant_detector(SIZE, 4)
    result = coco.evaluate(model, coco_folder, batch_size=2)
    assert result["images"] == 3
    assert result["AP"] == pytest.approx(1.0) and result["AR1"] == 1.0
    swapped = coco.evaluate(model, coco_folder, batch_size=2,
                            category_ids={1: 3, 2: 2, 3: 1})
    assert swapped["AP"] == 0.0


def test_coco_class_names_are_torchvisions():
    names = coco.class_names()
    assert len(names) == 91 and names[0] == "__background__"
    assert names[1] == "person" and names[12] == "N/A"
    assert names[90] == "toothbrush"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """Random weights of the 91-class SSDLite at 320 on the tiny backbone,
    and that model. The heads' biases drawn wide, so scores differ (the
    initial heads score every class about 1/91)."""
    keras.utils.set_random_seed(1)
    model = detection.SSDLite(BACKBONE, num_classes=91,
                              backbone_arguments=TINY)
    for layer in model.layers:
        if layer.name.startswith("head_") and getattr(layer, "use_bias",
                                                      False):
            layer.bias.assign(keras.random.normal(layer.bias.shape,
                                                  stddev=2.0))
    path = str(tmp_path_factory.mktemp("ssdlite") / "ssdlite.weights.h5")
    model.save_weights(path)
    return path, model


def _cli_args(weights):
    return ["--weights", weights, "--backbone", BACKBONE, "--alpha",
            str(TINY["alpha"])]


def test_evaluate_detection_command(coco_folder, weights_file, capsys):
    path, model = weights_file
    code = cli.main(["evaluate", "--task", "detection", "--data",
                     coco_folder, "--batch-size", "2", *_cli_args(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    expected = coco.evaluate(model, coco_folder, batch_size=3)
    assert "Average Precision  (AP) @[ IoU=0.50:0.95" in out
    assert out.splitlines()[-1] == (
        f"SSDLite on {BACKBONE} on {coco_folder}: box mAP "
        f"{expected['AP']:.4f}, AP50 {expected['AP50']:.4f}, AP75 "
        f"{expected['AP75']:.4f} (3 images)")


def test_detect_command_prints_and_draws(weights_file, photo, tmp_path,
                                        capsys):
    path, model = weights_file
    found = predict.detect(model, [photo], score_threshold=0.0)[0]
    # a threshold in the widest gap between the distinct scores (random
    # weights tie many: the heads' biases dominate)
    scores = found["scores"]
    distinct = np.unique(scores)[::-1]
    assert len(distinct) > 1, scores
    gaps = distinct[:-1] - distinct[1:]
    widest = int(np.argmax(gaps))
    threshold = float(distinct[widest] + distinct[widest + 1]) / 2
    kept = int(np.sum(scores > threshold))
    assert gaps[widest] > 1e-4, gaps.max()
    output = tmp_path / "boxes.jpg"
    code = cli.main(["detect", photo, *_cli_args(path), "--output",
                     str(output), "--score-threshold", str(threshold)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, lines
    assert 0 < kept < len(scores) and len(lines) == kept + 2
    assert lines[0].startswith(f"{photo}: {kept} boxes")
    names = coco.class_names()
    for line, box, score, label in zip(lines[1:-1], found["boxes"],
                                       found["scores"], found["labels"]):
        head = line[:line.index("[")].split()
        assert " ".join(head[:-1]) == names[label]
        assert float(head[-1]) == pytest.approx(score, abs=5e-4)
        coords = [float(v) for v in line[line.index("[") + 1:-1].split(",")]
        np.testing.assert_allclose(coords, box, atol=0.06)
    assert lines[-1] == f"wrote {output}"
    drawn = np.asarray(Image.open(output), np.float32)
    photo = np.asarray(Image.open(photo).convert("RGB"), np.float32)
    assert drawn.shape == photo.shape
    assert np.abs(drawn - photo).max() > 100  # boxes drawn on it


def test_detection_command_errors(capsys, coco_folder):
    assert cli.main(["evaluate", "--task", "detection", "--data",
                     coco_folder]) == 1
    assert "needs --weights" in capsys.readouterr().err
    assert cli.main(["evaluate", "--data", coco_folder, "--backbone",
                     "MobileNet"]) == 1
    assert "--backbone is for --task detection" in capsys.readouterr().err
    assert cli.main(["detect", "no_such.jpg", "--weights", "w.h5"]) == 1
    assert "no image file" in capsys.readouterr().err
