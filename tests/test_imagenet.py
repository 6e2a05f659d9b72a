"""decode_predictions works offline; preprocess_input matches keras.applications."""

import hashlib
import os

import keras
import numpy as np
import pytest

from keras_mobilenets import (evaluation, imagenet, mobilenet, mobilenet_v2,
                              mobilenet_v3)

# The MD5 keras.applications pins for its imagenet_class_index.json download.
KERAS_CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"


def test_shipped_class_index_is_byte_identical_to_keras():
    path = os.path.join(imagenet.DATA_DIR, "imagenet_class_index.json")
    assert hashlib.md5(open(path, "rb").read()).hexdigest() == KERAS_CLASS_INDEX_MD5
    index = imagenet.class_index()
    assert len(index) == 1000
    assert index[0] == ("n01440764", "tench")
    assert index[386] == ("n02504458", "African_elephant")


# What fixture_scripts/make_imagenet12k_classes.py printed for the file it
# wrote from timm 1.0.31's imagenet12k_synsets.txt and synset lemmas.
CLASSES_12K_MD5 = "431400958be89ed3e024f8274929aa64"


def test_shipped_12k_class_names_are_the_generated_file():
    path = os.path.join(imagenet.DATA_DIR, "imagenet12k_classes.txt.gz")
    assert hashlib.md5(open(path, "rb").read()).hexdigest() == CLASSES_12K_MD5
    index = imagenet.class_index_12k()
    assert sorted(index) == list(range(11821))
    assert len({wnid for wnid, _ in index.values()}) == 11821
    # The ImageNet-1k classes among them have the names of Keras' index.
    names = dict(index.values())
    shared = [v for v in imagenet.class_index().values() if v[0] in names]
    assert len(shared) > 900
    assert all(names[wnid] == name for wnid, name in shared)


def test_decode_predictions_of_11821_classes():
    preds = np.zeros((1, 11821), "float32")
    preds[0, 11820], preds[0, 2] = 0.9, 0.1
    out = imagenet.decode_predictions(preds, top=2)[0]
    index = imagenet.class_index_12k()
    assert [t[:2] for t in out] == [index[11820], index[2]]
    assert out[0][2] == pytest.approx(0.9)
    assert len(imagenet.decode_predictions(preds, top=11821)[0]) == 11821
    with pytest.raises(ValueError, match=r"\[1, 11821\]. Received: top=11822"):
        imagenet.decode_predictions(preds, top=11822)


# What fixture_scripts/make_imagenet21k_miil_classes.py printed for the file
# it wrote from timm 1.0.31's imagenet21k_miil_synsets.txt and synset lemmas.
CLASSES_21K_MIIL_MD5 = "ba71f7f8aaf0ce99754238541d42bbf0"


def test_shipped_21k_miil_class_names_are_the_generated_file():
    path = os.path.join(imagenet.DATA_DIR, "imagenet21k_miil_classes.txt.gz")
    assert hashlib.md5(open(path, "rb").read()).hexdigest() == \
        CLASSES_21K_MIIL_MD5
    index = imagenet.class_index_21k_miil()
    assert sorted(index) == list(range(11221))
    assert len({wnid for wnid, _ in index.values()}) == 11221
    names = dict(index.values())
    shared = [v for v in imagenet.class_index().values() if v[0] in names]
    assert len(shared) > 900
    assert all(names[wnid] == name for wnid, name in shared)


def test_decode_predictions_of_11221_classes():
    preds = np.zeros((2, 11221), "float32")
    preds[0, 11220], preds[0, 5], preds[1, 0] = 0.8, 0.2, 1.0
    out = imagenet.decode_predictions(preds, top=2)
    index = imagenet.class_index_21k_miil()
    assert [t[:2] for t in out[0]] == [index[11220], index[5]]
    assert out[1][0][:2] == index[0] == ("n00005787", "benthos")
    with pytest.raises(ValueError, match=r"\[1, 11221\]. Received: top=11222"):
        imagenet.decode_predictions(preds, top=11222)


def test_evaluation_labels_follow_the_width_of_the_classifier(tmp_path):
    (tmp_path / "n02504458").mkdir()
    (tmp_path / "n02504458" / "a.jpg").write_bytes(b"")
    path = str(tmp_path / "n02504458" / "a.jpg")
    twelve = {wnid: i for i, (wnid, _) in imagenet.class_index_12k().items()}
    assert evaluation.labelled_images(str(tmp_path)) == [(path, 386)]
    assert evaluation.labelled_images(str(tmp_path), 11821) == [
        (path, twelve["n02504458"])]
    with pytest.raises(ValueError, match="Received: a model with 10 outputs"):
        evaluation.labelled_images(str(tmp_path), 10)


def test_decode_predictions_orders_top_k():
    preds = np.full((2, 1000), 1e-4, "float32")
    preds[0, 386], preds[0, 101], preds[0, 7] = 0.7, 0.2, 0.05
    preds[1, 999] = 0.9
    out = mobilenet.decode_predictions(preds, top=3)
    assert [t[1] for t in out[0]] == ["African_elephant", "tusker", "cock"]
    assert out[0][0][2] == pytest.approx(0.7)
    assert out[1][0][:2] == ("n15075141", "toilet_tissue")
    assert len(mobilenet_v3.decode_predictions(preds)[1]) == 5


def test_decode_predictions_accepts_backend_tensors():
    preds = keras.ops.one_hot(keras.ops.convert_to_tensor([3]), 1000)
    assert mobilenet_v2.decode_predictions(preds, top=1)[0][0][1] == "tiger_shark"


@pytest.mark.parametrize("shape", [(1000,), (2, 10), (2, 1000, 1), (3, 11820),
                                   (1, 11222)])
def test_decode_predictions_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match=r"\(samples, 1000\).*\(samples, "
                       r"11821\).*\(samples, 11221\).*Received shape: \("
                       + str(shape[0])):
        imagenet.decode_predictions(np.zeros(shape))


@pytest.mark.parametrize("top", [0, 1001, 2.0])
def test_decode_predictions_rejects_bad_top(top):
    with pytest.raises(ValueError, match=f"top={top}"):
        imagenet.decode_predictions(np.zeros((1, 1000)), top=top)


def test_preprocess_input_matches_keras_applications():
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype("uint8")
    expected = keras.applications.mobilenet.preprocess_input(x.astype("float32"))
    for fn in (mobilenet.preprocess_input, mobilenet_v2.preprocess_input):
        np.testing.assert_allclose(fn(x), expected, atol=1e-6)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x))),
            expected, atol=1e-6)
    assert x.dtype == np.uint8 and x.max() > 1  # input left unchanged
    assert mobilenet_v3.preprocess_input(x) is x  # V3 rescales inside the model
