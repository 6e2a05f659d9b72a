"""RetinaNet, the MobileNetV4 paper's detector, through keras-hub: its
`RetinaNetObjectDetector` on a `RetinaNetBackbone` whose image encoder is our
MobileNetV4 (through `pyramid_outputs`) builds, fits, predicts and
round-trips `.keras`."""

import numpy as np
import pytest

import keras
import keras_mobilenets as km

keras_hub = pytest.importorskip(
    "keras_hub", reason="keras-hub is absent: the README's test command "
    "installs it (pip install --no-deps keras-hub, with the [detection] extra)")

SIZE = 96  # small (P3 12 x 12 to P5 3 x 3), but attention over more than one key
LEVELS = (3, 5)  # the FPN on P3-P5, all three our models' own maps
CLASSES = 3
ANCHORS = 9 * sum((SIZE // 2 ** level) ** 2
                  for level in range(LEVELS[0], LEVELS[1] + 1))


def _data():
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3))
    # 32 x 32 boxes, near anchors of P3 (IoU over keras-hub's 0.5)
    boxes = np.array([[[8, 8, 40, 40], [24, 16, 56, 48]],
                      [[16, 24, 48, 56], [0, 0, 32, 32]]], "float32")
    labels = np.array([[0, 2], [1, 0]], "float32")
    return images.astype("float32"), {"boxes": boxes, "labels": labels}


def _raw_outputs(detector, images):
    """The head's outputs before decoding (box deltas and class logits per
    anchor): an untrained head finds no boxes in random images (keras-hub
    0.32 starts its box head at the classifier's prior, -4.6), so these are
    what a round trip compares."""
    heads = keras.Model(detector.input, detector.output)
    return heads.predict(images, verbose=0)


@pytest.fixture(scope="module", params=["MobileNetV4ConvSmall",
                                        "MobileNetV4HybridMedium"])
def fitted(request):
    """A detector on `params`, and what two steps of `fit` made of it."""
    encoder = getattr(km, request.param)(include_top=False, weights=None,
                                         input_shape=(SIZE, SIZE, 3))
    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=encoder, min_level=LEVELS[0], max_level=LEVELS[1],
        use_p5=False, image_shape=(SIZE, SIZE, 3))
    detector = keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=CLASSES, bounding_box_format="xyxy",
        pre_logits_num_conv_layers=1)
    # Our last two blocks (attention in Hybrid-M's) and the stride-32 conv
    # train with the FPN and heads; the rest is frozen, which keeps the
    # backward pass (and JAX's and TensorFlow's compilation of it) small.
    stem = next(layer for layer in encoder.layers if layer.weights)
    adds = [i for i, layer in enumerate(encoder.layers)
            if layer.name.endswith("_add")]  # residual blocks (timm names)
    last_frozen = adds[-3]
    for layer in encoder.layers[:last_frozen + 1]:
        layer.trainable = False
    trained = [layer for layer in encoder.layers[last_frozen + 1:]
               if layer.trainable_weights]
    before = {layer.name: np.array(layer.weights[0])
              for layer in (stem, *trained)}
    detector.compile(optimizer=keras.optimizers.Adam(1e-3))
    images, targets = _data()
    history = detector.fit(images, targets, batch_size=2, epochs=2,
                           shuffle=False, verbose=0)
    return dict(name=request.param, encoder=encoder, detector=detector,
                frozen=stem.name, last_block=[
                    layer.name for layer in encoder.layers[adds[-2] + 1:]
                    if layer.trainable_weights],
                before=before, history=history.history, images=images,
                found=detector.predict(images, verbose=0),
                raw=_raw_outputs(detector, images))


def test_the_fpn_reads_our_pyramid(fitted):
    backbone = fitted["detector"].backbone
    assert backbone.image_encoder is fitted["encoder"]
    shapes = {k: tuple(v.shape) for k, v in backbone.pyramid_outputs.items()}
    assert shapes == {f"P{level}": (None, SIZE // 2 ** level,
                                    SIZE // 2 ** level, 256)
                      for level in range(LEVELS[0], LEVELS[1] + 1)}
    ours = fitted["encoder"].pyramid_outputs
    extractor = backbone.get_layer("backbone")
    assert sorted(extractor.output) == ["P3", "P4", "P5"]
    for level, tensor in extractor.output.items():
        assert tuple(tensor.shape) == tuple(ours[level].shape)


def test_two_steps_of_fit_train_our_last_blocks(fitted):
    losses = fitted["history"]["loss"]
    assert len(losses) == 2 and np.isfinite(losses).all(), losses
    assert losses[0] > 0, losses  # boxes matched anchors
    assert int(fitted["detector"].optimizer.iterations) == 2
    encoder, before = fitted["encoder"], fitted["before"]
    changed = {name: not np.allclose(
        keras.ops.convert_to_numpy(encoder.get_layer(name).weights[0]), value)
        for name, value in before.items()}
    assert changed.pop(fitted["frozen"]) is False
    assert all(changed[name] for name in fitted["last_block"]), changed
    # all but, in Hybrid-M, the query and key projections of an attention
    # whose keys (of random images) are alike, which get almost no gradient
    assert sum(changed.values()) >= len(changed) - 3, changed


def test_predict_gives_boxes(fitted):
    raw = fitted["raw"]
    assert raw["bbox_regression"].shape == (2, ANCHORS, 4)
    assert raw["cls_logits"].shape == (2, ANCHORS, CLASSES)
    assert all(np.isfinite(v).all() for v in raw.values())
    found = fitted["found"]  # keras-hub's NMS: at most 100 an image
    assert found["boxes"].shape == (2, 100, 4)
    assert found["labels"].shape == found["confidence"].shape == (2, 100)
    for i, n in enumerate(np.asarray(found["num_detections"])):
        assert 0 <= n <= 100
        assert set(np.asarray(found["labels"][i, :n])) <= set(range(CLASSES))
        assert (np.asarray(found["labels"][i, n:]) == -1).all()


def test_keras_file_round_trip(fitted, tmp_path):
    path = str(tmp_path / "retinanet.keras")
    fitted["detector"].save(path)
    loaded = keras.saving.load_model(path)
    encoder = loaded.backbone.image_encoder
    assert type(encoder) is km.Model and encoder.taps == fitted["encoder"].taps
    raw = _raw_outputs(loaded, fitted["images"])
    for key, value in fitted["raw"].items():
        np.testing.assert_allclose(raw[key], value, rtol=1e-5, atol=1e-5,
                                   err_msg=key)
    assert (loaded.prediction_decoder.get_config()
            == fitted["detector"].prediction_decoder.get_config())
