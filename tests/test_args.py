"""Invalid arguments raise ValueError/TypeError saying what was received and
what is allowed, before anything is downloaded."""

import dataclasses

import keras
import pytest

import keras_mobilenets as km

V1, V2 = km.MobileNet, km.MobileNetV2
V3S, V3L = km.MobileNetV3Small, km.MobileNetV3Large

CASES = [
    # builder, kwargs, exception, words the message must contain
    (V1, dict(alpha=0.3), ValueError, ["alpha", "0.25", "Received: alpha=0.3"]),
    (V2, dict(alpha=0.6), ValueError, ["alpha", "0.35", "Received: alpha=0.6"]),
    (V2, dict(alpha=1.3, input_shape=(160, 160, 3)), ValueError,
     ["[224]", "Received: input_shape=(160, 160, 3)"]),
    (V3S, dict(alpha=0.75, minimalistic=True), ValueError,
     ["[1.0]", "alpha=0.75", "minimalistic=True"]),
    (V3L, dict(alpha=0.5), ValueError, ["[0.75, 1.0]", "alpha=0.5"]),
    (V1, dict(weights=None, alpha="wide"), TypeError, ["alpha", "'wide'"]),
    (V1, dict(weights=None, alpha=-1.0), ValueError, ["alpha", "Received: alpha=-1.0"]),
    (V1, dict(weights=None, alpha=True), TypeError, ["alpha", "True"]),
    (V1, dict(weights=None, include_top=False, input_shape=(16, 16, 3)), ValueError,
     ["at least 32x32", "(16, 16, 3)"]),
    (V3S, dict(weights=None, input_shape=(31, 64, 3)), ValueError,
     ["at least 32x32", "(31, 64, 3)"]),
    (V2, dict(weights=None, input_shape=(224, 224)), ValueError,
     ["three entries", "(224, 224)"]),
    (V2, dict(include_top=False, input_shape=(224, 224, 4)), ValueError,
     ["3 channels", "(224, 224, 4)"]),
    (V2, dict(weights=None, input_shape=(224, "224", 3)), TypeError,
     ["input_shape", "'224'"]),
    (V1, dict(input_shape=(100, 100, 3)), ValueError,
     ["[128, 160, 192, 224]", "(100, 100, 3)"]),
    (V1, dict(classes=10), ValueError, ["classes", "1000", "Received: classes=10"]),
    (V3L, dict(classes=10), ValueError, ["classes", "Received: classes=10"]),
    (V2, dict(weights=None, classes=0), ValueError, ["classes", "classes=0"]),
    (V2, dict(weights=None, classes=2.5), TypeError, ["classes", "2.5"]),
    (V1, dict(include_top=False, pooling="mean"), ValueError,
     ["'avg'", "'max'", "pooling='mean'"]),
    (V3S, dict(include_top=False, pooling="MAX"), ValueError, ["pooling='MAX'"]),
    (V2, dict(weights="/no/such/file.h5"), ValueError,
     ["'imagenet'", "/no/such/file.h5", "not an existing file"]),
    (V2, dict(weights="imagenet_21k"), ValueError, ["imagenet_21k"]),
    (V2, dict(weights=42), TypeError, ["weights=42", "int"]),
    (V2, dict(include_top="yes"), TypeError, ["include_top", "'yes'"]),
    (V1, dict(classifier_activation="sigmoid"), ValueError,
     ["None or 'softmax'", "'sigmoid'"]),
    (V1, dict(weights=None, classifier_activation="no_such_fn"), ValueError,
     ["classifier_activation='no_such_fn'"]),
    (V1, dict(depth_multiplier=2), ValueError, ["depth_multiplier=2"]),
    (V1, dict(weights=None, depth_multiplier=0), ValueError, ["depth_multiplier=0"]),
    (V1, dict(weights=None, dropout=1.5), ValueError, ["dropout", "1.5"]),
    (V3S, dict(weights=None, dropout_rate=-0.1), ValueError, ["dropout_rate", "-0.1"]),
    (V3S, dict(weights=None, minimalistic="no"), TypeError, ["minimalistic", "'no'"]),
    (V3L, dict(weights=None, include_preprocessing=1), TypeError,
     ["include_preprocessing", "1"]),
    (V2, dict(weights=None, input_tensor="image"), TypeError,
     ["input_tensor", "str"]),
]


@pytest.mark.parametrize(
    "builder, kwargs, error, words", CASES,
    ids=[f"{c[0].__name__}-{'-'.join(map(str, c[1].items()))}" for c in CASES],
)
def test_invalid_argument(builder, kwargs, error, words, keras_home, monkeypatch):
    monkeypatch.setattr(keras.utils, "get_file",
                        lambda *a, **k: pytest.fail("reached the download"))
    with pytest.raises(error) as e:
        builder(**kwargs)
    for word in words:
        assert word in str(e.value), (word, str(e.value))


def test_input_shape_and_tensor_must_agree():
    tensor = keras.Input(shape=(96, 96, 3))
    with pytest.raises(ValueError, match=r"disagree.*\(64, 64, 3\)"):
        km.MobileNetV2(weights=None, include_top=False, input_shape=(64, 64, 3),
                       input_tensor=tensor)


def test_input_tensor_is_used_as_the_input():
    tensor = keras.Input(shape=(96, 96, 3), name="my_images")
    model = km.MobileNetV2(weights=None, include_top=False, input_tensor=tensor,
                           pooling="avg", name="backbone")
    assert model.inputs[0] is tensor
    assert model.name == "backbone"
    assert model.output.shape == (None, 1280)


def test_defaults_follow_keras_applications():
    v1 = km.MobileNet(weights=None)
    assert v1.input_shape == (None, 224, 224, 3)
    assert v1.name == "mobilenet_1.00_224"
    v3 = km.MobileNetV3Small(weights=None, include_top=False)
    assert v3.input_shape == (None, None, None, 3)
    assert v3.name == "MobileNetV3Small"
    v2 = km.MobileNetV2(weights=None, classes=7, classifier_activation=None)
    assert v2.output.shape == (None, 7)


def test_imagenet_at_an_untrained_size_warns_and_uses_224(keras_home, monkeypatch):
    chosen = []
    from keras_mobilenets import weights as weights_lib

    def fake_fetch(entry, subdir="models"):
        chosen.append(entry.fname)
        raise weights_lib.DownloadError("offline", entry.url, "")

    monkeypatch.setattr(weights_lib.cache, "fetch", fake_fetch)
    with pytest.warns(UserWarning, match="100x120"):
        with pytest.raises(OSError):
            km.MobileNet(include_top=False, input_shape=(100, 120, 3))
    assert chosen == ["mobilenet_1_0_224_tf_no_top.h5"]


def test_one_resolver_names_source_classes_recipe_and_data_config(tmp_path):
    """`builder.resolve` checks the arguments and asks `weights.resolve`
    once: what to load, the top's classes, the checkpoint the model
    normalises with and is evaluated with, the rows it is loaded at."""
    from keras_mobilenets import builder, registry, weights

    v2 = registry.get("MobileNetV2")
    opts, r = builder.resolve(v2, alpha=0.35, input_shape=(96, 96, 3))
    assert (r.source.alpha, r.source.size, r.rows) == (0.35, 96, 96)
    assert r.recipe is r.source and r.classes == opts.classes == 1000
    assert r.data_config["input_size"] == (3, 96, 96)
    assert r.data_config["crop_mode"] == "squash" and r.class_names is None
    small = registry.get("MobileNetV4ConvSmall")
    _, r = builder.resolve(small, weights=None, alpha=0.5)
    assert r.source is None and (r.recipe.alpha, r.recipe.default) == (0.5, True)
    assert r.data_config == km.data_config(small.builder, r.recipe.tag)
    path = tmp_path / "mine.weights.h5"
    path.write_bytes(b"")
    _, r = builder.resolve(small, weights=path, include_top=False)
    assert r.source == weights.LocalFile(str(path))
    opts, r = builder.resolve(registry.get("MobileNetV4ConvMedium"),
                              weights="e180_r384_in12k")
    assert r.source.tag == "e180_r384_in12k" and r.rows == 384
    assert r.classes == opts.classes == r.data_config["num_classes"] == 11821


def test_the_resolver_reads_only_the_pretrained_record():
    """`weights.resolve` takes a small `Pretrained` record (checkpoints,
    tags, hub names), not the registry's entry: one written by hand, with
    one made-up timm checkpoint, resolves its tag and refuses what it lacks."""
    from keras_mobilenets import builder, registry, weights

    opts, _ = builder.resolve(registry.get("MobileNetV4ConvSmall"),
                              weights=None)
    ckpt = weights.TimmCheckpoint(
        model="made_up_net", tag="e1_r64_in1k", alpha=1.0, input_size=64,
        crop_pct=0.9, test_input_size=None, test_crop_pct=None,
        mean=(0.5,) * 3, std=(0.25,) * 3, top1=None, test_top1=None,
        default=True)
    record = weights.Pretrained("MadeUp", (ckpt,),
                                hub_names={"made_up_net": 1.0},
                                normalises=True)
    r = weights.resolve(record, dataclasses.replace(opts, weights="e1_r64_in1k"))
    assert r.source is ckpt and r.rows == 64 and r.recipe is ckpt
    assert weights.resolve(record, dataclasses.replace(
        opts, weights="imagenet")).source is ckpt
    with pytest.raises(ValueError, match="MadeUp has ImageNet weights for "
                       r"alpha in \[1.0\].*alpha=0.5"):
        weights.resolve(record, dataclasses.replace(
            opts, weights="imagenet", alpha=0.5))
    with pytest.raises(ValueError, match="one of the tags 'e1_r64_in1k'"):
        weights.resolve(record, dataclasses.replace(opts, weights="e2"))
    with pytest.raises(ValueError, match="MadeUp has no checkpoint to "
                       "normalise with"):
        weights.resolve(dataclasses.replace(record, checkpoints=()), opts)
    # what the builders hand it
    entry = registry.get("MobileNetV2")
    assert entry.pretrained == weights.Pretrained(
        "MobileNetV2", entry.checkpoints, {}, 224, False)
