"""The SSD pieces of `keras_mobilenets.detection` against torchvision's own
(`tests/fixtures/ssdlite_ops.npz`, from
`fixture_scripts/make_ssdlite_ops_fixtures.py`): default boxes, box coding,
matching, targets, the loss (called and through `compile`) and the
post-processed detections."""

import os

import keras
import numpy as np
import pytest

from keras_mobilenets import detection
from ssdlite_reference import IMAGE_SIZE, NUM_CLASSES, head_outputs

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "ssdlite_ops.npz")


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as f:
        return dict(f)


@pytest.fixture(scope="module")
def anchors(ref):
    return ref["anchors_320x320"]


@pytest.fixture(scope="module")
def heads(ref, anchors):
    out = head_outputs(len(ref["gt_counts"]), len(anchors))
    # the fixture's inputs, regenerated: the same numbers
    np.testing.assert_allclose(
        [out["bbox_regression"].sum(dtype=np.float64),
         out["cls_logits"].sum(dtype=np.float64)], ref["head_sums"], rtol=1e-12)
    return out


def _ground_truth(ref, i):
    n = ref["gt_counts"][i]
    return ref["gt_boxes"][i, :n], ref["gt_labels"][i, :n]


@pytest.fixture(scope="module")
def y_true(ref, anchors):
    per_image = [detection.encode_targets(*_ground_truth(ref, i), anchors)
                 for i in range(len(ref["gt_counts"]))]
    return {k: np.stack([t[k] for t in per_image]) for k in per_image[0]}


# Default boxes ---------------------------------------------------------------

@pytest.mark.parametrize("size", ["320x320", "256x384"])
def test_default_boxes_equal_torchvision(ref, size):
    image_size = tuple(int(s) for s in size.split("x"))
    sizes = detection.ssdlite_feature_sizes(image_size)
    assert sizes == [tuple(s) for s in ref[f"feature_sizes_{size}"].tolist()]
    boxes = detection.default_boxes(image_size, sizes)
    expected = ref[f"anchors_{size}"]
    assert boxes.dtype == np.float32 and boxes.shape == expected.shape
    if size == "320x320":
        assert len(boxes) == 3234
    np.testing.assert_allclose(boxes, expected, rtol=0, atol=1e-4)
    cells = sum(r * c for r, c in sizes)
    assert detection.anchors_per_location([(2, 3)] * 6) == [6] * 6
    assert len(boxes) == 6 * cells


# Box coding ------------------------------------------------------------------

def test_encode_equal_torchvision(ref):
    encoded = keras.ops.convert_to_numpy(
        detection.encode(ref["encode_boxes"], ref["encode_anchors"]))
    # random pairs: offsets up to ~500 (boxes far from small anchors)
    np.testing.assert_allclose(encoded, ref["encoded"], rtol=1e-5, atol=1e-5)


def test_decode_equal_torchvision(ref):
    decoded = keras.ops.convert_to_numpy(
        detection.decode(ref["decode_codes"], ref["decode_anchors"]))
    # the first 16 codes are past torchvision's dw/dh clip
    assert np.abs(ref["decoded"][:16]).max() > 1000
    np.testing.assert_allclose(decoded, ref["decoded"], rtol=1e-6, atol=1e-5)


def test_decode_inverts_encode(ref):
    boxes, anchors = ref["encode_boxes"], ref["encode_anchors"]
    back = detection.decode(detection.encode(boxes, anchors), anchors)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back), boxes,
                               rtol=0, atol=1e-3)


# Matching and targets --------------------------------------------------------

def test_matching_identical_to_torchvision(ref, anchors):
    for i in range(len(ref["gt_counts"])):
        boxes, _ = _ground_truth(ref, i)
        matched = detection.match_anchors(boxes, anchors)
        np.testing.assert_array_equal(matched, ref["matched_idxs"][i])
        assert set(matched[matched >= 0]) == set(range(len(boxes)))
    # the tiny box of image 2 is matched only through its forced anchor
    assert (ref["matched_idxs"][2] == 3).sum() == 1
    assert (detection.match_anchors(np.zeros((0, 4)), anchors) == -1).all()


def test_encode_targets_equal_torchvision(ref, y_true):
    labels = y_true["cls_logits"]
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, ref["target_labels"])
    regression = y_true["bbox_regression"]
    assert regression.dtype == np.float32 and regression.shape[-1] == 5
    np.testing.assert_array_equal(regression[..., 4], ref["matched_idxs"] >= 0)
    np.testing.assert_allclose(regression[..., :4], ref["target_regression"],
                               rtol=0, atol=1e-5)


def test_encode_targets_leaves_out_label_minus_one(ref, anchors):
    """Keras pads boxes, and marks those its augmentation clipped away, with
    label -1: such rows change nothing."""
    boxes, labels = _ground_truth(ref, 0)
    padded = np.concatenate([boxes, [[0, 0, 0, 0], [5, 5, 50, 50]]])
    expected = detection.encode_targets(boxes, labels, anchors)
    got = detection.encode_targets(padded, np.r_[labels, -1, -1], anchors)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


# Loss ------------------------------------------------------------------------

def _losses(y, heads):
    loss = detection.ssd_loss()
    return (float(loss["bbox_regression"](y["bbox_regression"],
                                          heads["bbox_regression"])),
            float(loss["cls_logits"](y["cls_logits"], heads["cls_logits"])))


def test_loss_equal_torchvision(ref, y_true, heads):
    box, cls = _losses(y_true, heads)
    np.testing.assert_allclose(box, ref["loss_bbox"], rtol=1e-5, atol=0)
    np.testing.assert_allclose(cls, ref["loss_cls"], rtol=1e-5, atol=0)


def test_loss_with_an_image_without_boxes(ref, y_true, heads, anchors):
    empty = detection.encode_targets(np.zeros((0, 4)), np.zeros((0,), int),
                                     anchors)
    assert not empty["cls_logits"].any() and not empty["bbox_regression"].any()
    y = {k: np.stack([y_true[k][1], empty[k]]) for k in empty}
    box, cls = _losses(y, {k: v[1:3] for k, v in heads.items()})
    np.testing.assert_allclose(box, ref["loss_empty_bbox"], rtol=1e-5, atol=0)
    np.testing.assert_allclose(cls, ref["loss_empty_cls"], rtol=1e-5, atol=0)


def _identity_model(num_anchors):
    """A model whose outputs are its inputs, as the SSD dict."""
    boxes = keras.Input((num_anchors, 4))
    logits = keras.Input((num_anchors, NUM_CLASSES))
    return keras.Model([boxes, logits], {
        "bbox_regression": keras.layers.Identity(name="bbox_regression")(boxes),
        "cls_logits": keras.layers.Identity(name="cls_logits")(logits)})


def test_loss_through_compile_equal_torchvision(ref, y_true, heads, anchors):
    model = _identity_model(len(anchors))
    model.compile(loss=detection.ssd_loss())
    result = model.evaluate(
        [heads["bbox_regression"], heads["cls_logits"]], y_true,
        batch_size=len(ref["gt_counts"]), return_dict=True, verbose=0)
    np.testing.assert_allclose(result["bbox_regression_loss"], ref["loss_bbox"],
                               rtol=1e-5, atol=0)
    np.testing.assert_allclose(result["cls_logits_loss"], ref["loss_cls"],
                               rtol=1e-5, atol=0)
    np.testing.assert_allclose(result["loss"],
                               ref["loss_bbox"] + ref["loss_cls"],
                               rtol=1e-5, atol=0)


def test_loss_trains_both_heads(y_true, anchors):
    features = keras.Input((len(anchors), 8))
    model = keras.Model(features, {
        "bbox_regression": keras.layers.Dense(4, name="bbox_regression")(
            features),
        "cls_logits": keras.layers.Dense(NUM_CLASSES, name="cls_logits")(
            features)})
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=detection.ssd_loss())
    before = [keras.ops.convert_to_numpy(w) for w in model.weights]
    x = np.random.default_rng(0).normal(size=(3, len(anchors), 8))
    losses = [model.train_on_batch(x.astype("float32"), y_true)
              for _ in range(3)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    for old, new in zip(before, model.weights):
        assert np.isfinite(keras.ops.convert_to_numpy(new)).all()
        assert not np.allclose(old, keras.ops.convert_to_numpy(new))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tf.data is tested in the TensorFlow session")
def test_targets_in_tf_data_through_compile(ref, heads, anchors):
    """encode_targets in a tf.data map through tf.numpy_function (outputs of
    unknown shape, as there) and batched: the loss is torchvision's."""
    import tensorflow as tf

    def targets(boxes, labels, count):
        y = detection.encode_targets(boxes[:count], labels[:count], anchors)
        return y["bbox_regression"], y["cls_logits"]

    def encode(x, boxes, labels, count):
        box, cls = tf.numpy_function(targets, [boxes, labels, count],
                                     [tf.float32, tf.int32])
        return x, {"bbox_regression": box, "cls_logits": cls}

    ds = tf.data.Dataset.from_tensor_slices((
        (heads["bbox_regression"], heads["cls_logits"]), ref["gt_boxes"],
        ref["gt_labels"], ref["gt_counts"])).map(encode).batch(3)
    model = _identity_model(len(anchors))
    model.compile(loss=detection.ssd_loss())
    result = model.evaluate(ds, return_dict=True, verbose=0)
    np.testing.assert_allclose(result["loss"],
                               ref["loss_bbox"] + ref["loss_cls"],
                               rtol=1e-5, atol=0)


def test_losses_serialize():
    loss = detection.SSDClassificationLoss(neg_to_pos_ratio=2.0, name="c")
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, detection.SSDClassificationLoss)
    assert again.get_config() == loss.get_config()
    assert again.neg_to_pos_ratio == 2.0 and again.name == "c"
    box = detection.SSDBoxLoss.from_config(detection.SSDBoxLoss().get_config())
    assert box.reduction == "sum"


# Post-processing -------------------------------------------------------------

@pytest.mark.parametrize("case", ["default", "strict", "few"])
def test_postprocess_equal_torchvision(ref, anchors, heads, case):
    cases = list(ref["cases"])
    score, nms, per_image, topk = ref["case_settings"][cases.index(case)]
    detections = detection.postprocess(
        heads, anchors, IMAGE_SIZE, score_threshold=score, iou_threshold=nms,
        topk_candidates=int(topk), max_detections=int(per_image))
    assert len(detections) == len(ref["gt_counts"])
    for i, det in enumerate(detections):
        n = ref[f"det_{case}_counts"][i]
        assert len(det["labels"]) == n
        assert det["labels"].dtype == np.int64
        np.testing.assert_array_equal(det["labels"],
                                      ref[f"det_{case}_labels"][i, :n])
        np.testing.assert_allclose(det["boxes"], ref[f"det_{case}_boxes"][i, :n],
                                   rtol=0, atol=1e-3)
        np.testing.assert_allclose(det["scores"],
                                   ref[f"det_{case}_scores"][i, :n],
                                   rtol=1e-5, atol=0)
        assert (np.diff(det["scores"]) <= 0).all()


def test_postprocess_takes_backend_tensors(ref, anchors, heads):
    tensors = {k: keras.ops.convert_to_tensor(v) for k, v in heads.items()}
    detections = detection.postprocess(  # the "few" case
        tensors, anchors, IMAGE_SIZE, score_threshold=0.9, iou_threshold=0.5,
        topk_candidates=10, max_detections=100)
    for i, det in enumerate(detections):
        n = ref["det_few_counts"][i]
        np.testing.assert_array_equal(det["labels"], ref["det_few_labels"][i, :n])


def test_postprocess_without_detections(anchors, heads):
    logits = np.zeros_like(heads["cls_logits"][:1])
    logits[..., 0] = 20.0  # background everywhere: no score passes
    (det,) = detection.postprocess(
        {"bbox_regression": heads["bbox_regression"][:1], "cls_logits": logits},
        anchors, IMAGE_SIZE, score_threshold=0.01)
    assert det["boxes"].shape == (0, 4) and det["boxes"].dtype == np.float32
    assert det["scores"].shape == (0,) and det["labels"].dtype == np.int64


def test_nms_removes_above_threshold_only():
    boxes = np.array([[[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30],
                       [0, 0, 10, 10]]], np.float32)  # IoU(0, 1) is 0.5
    valid = np.array([[True, True, True, False]])
    keep = detection.nms_per_class(boxes, valid, 0.5)
    np.testing.assert_array_equal(keep, [[True, True, True, False]])
    keep = detection.nms_per_class(boxes, valid, 0.49)
    np.testing.assert_array_equal(keep, [[True, False, True, False]])


# Bad arguments ---------------------------------------------------------------

A = np.array([[0, 0, 10, 10], [5, 5, 20, 20]], np.float32)
HEADS = {"bbox_regression": np.zeros((1, 2, 4), np.float32),
         "cls_logits": np.zeros((1, 2, 3), np.float32)}
BAD = [
    (lambda: detection.default_boxes((320,), [(20, 20)]), TypeError),
    (lambda: detection.default_boxes((320, 320), []), TypeError),
    (lambda: detection.default_boxes((320, 320), [(20, 0)]), ValueError),
    (lambda: detection.default_boxes((320, 320), [(2, 2)],
                                     aspect_ratios=[(2,), (3,)]), ValueError),
    (lambda: detection.default_boxes((320, 320), [(2, 2)], min_ratio=0.9,
                                     max_ratio=0.2), ValueError),
    (lambda: detection.default_boxes((320, 320), [(2, 2)], min_ratio=-0.1),
     ValueError),
    (lambda: detection.encode(np.zeros((2, 3)), A), ValueError),
    (lambda: detection.encode(A, A, weights=(1, 2, 3)), ValueError),
    (lambda: detection.decode(np.zeros((3, 4)), A), ValueError),
    (lambda: detection.match_anchors(A, A, iou_threshold=1.5), ValueError),
    (lambda: detection.encode_targets(A, [1], A), ValueError),
    (lambda: detection.encode_targets(A, [0, 1], A), ValueError),
    (lambda: detection.encode_targets(A, [1.5, 2.0], A), ValueError),
    (lambda: detection.encode_targets(A, [-2, 1], A), ValueError),
    (lambda: detection.encode_targets(A[:, [2, 1, 0, 3]], [1, 2], A),
     ValueError),
    (lambda: detection.SSDClassificationLoss(neg_to_pos_ratio=0), ValueError),
    (lambda: detection.SSDBoxLoss()(np.zeros((1, 2, 4)), np.zeros((1, 2, 4))),
     ValueError),
    (lambda: detection.SSDClassificationLoss()(np.zeros((1, 3)),
                                               np.zeros((1, 2, 5))),
     ValueError),
    (lambda: detection.postprocess([HEADS], A, (32, 32)), TypeError),
    (lambda: detection.postprocess(HEADS, A[:1], (32, 32)), ValueError),
    (lambda: detection.postprocess(HEADS, A, (32, 32), score_threshold=1.0),
     ValueError),
    (lambda: detection.postprocess(HEADS, A, (32, 32), iou_threshold=-0.1),
     ValueError),
    (lambda: detection.postprocess(HEADS, A, (32, 32), topk_candidates=0),
     ValueError),
    (lambda: detection.postprocess(HEADS, A, (32, 32), max_detections=2.5),
     TypeError),
]


@pytest.mark.parametrize("call, error", BAD)
def test_bad_arguments(call, error):
    with pytest.raises(error, match="Received"):
        call()
