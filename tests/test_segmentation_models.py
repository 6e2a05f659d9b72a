"""Segmentation builders: per-pixel logits at the input size on any
backbone, backbone weights loaded, the head's MACs counted, clear errors,
and the mean-IoU metric."""

import numpy as np
import pytest

import keras_mobilenets as km
from conftest import V2_035_NO_TOP_FILE, layer_arrays, model_outputs, shared_file
from keras_mobilenets import features, segmentation

BUILDERS = segmentation.MODELS


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_logits_at_the_input_size(builder):
    model = BUILDERS[builder](backbone="MobileNetV4ConvSmall", classes=3,
                              input_shape=(None, None, 3),
                              backbone_weights=None)
    assert model.output_shape == (None, None, None, 3)
    x = np.random.default_rng(0).uniform(0, 255, (1, 72, 100, 3))
    out = model_outputs(model, x.astype("float32"))
    assert out.shape == (1, 72, 100, 3) and np.isfinite(out).all()


def test_any_backbone_model_and_its_weights(tmp_path):
    path = shared_file(V2_035_NO_TOP_FILE)
    model = segmentation.LRASPP(
        backbone="MobileNetV2", classes=4, input_shape=(64, 64, 3),
        backbone_weights=path, backbone_arguments={"alpha": 0.35})
    reference = layer_arrays(km.MobileNetV2(
        alpha=0.35, include_top=False, weights=path, input_shape=(64, 64, 3)))
    got = layer_arrays(model)
    assert set(reference) < set(got)
    for name, arrays in reference.items():
        for a, b in zip(got[name], arrays):
            np.testing.assert_array_equal(a, b)
    # a model built by the package, as the backbone (its taps are used)
    base = km.MobileNet(alpha=0.25, include_top=False, weights=None,
                        input_shape=(64, 64, 3), output_stride=16)
    model = segmentation.DeepLabV3Plus(backbone=base, classes=4)
    assert model.output_shape == (None, 64, 64, 4)
    names = {layer.name for layer in model.layers}
    assert set(features.feature_layers(base).values()) < names


def test_head_macs_are_counted_at_512():
    model = segmentation.LRASPP(backbone="MobileNetV4ConvSmall", classes=21,
                                input_shape=(512, 512, 3),
                                backbone_weights=None)
    body = km.MobileNetV4ConvSmall(include_top=False, weights=None,
                                   input_shape=(512, 512, 3), output_stride=16)
    # LR-ASPP on the 960-channel map at stride 16 (32 x 32) and the
    # 64-channel map at stride 8 (64 x 64), inter_channels 128
    head = (32 * 32 * 960 * 128 + 960 * 128 + 64 * 64 * 128 * 21
            + 64 * 64 * 64 * 21)
    assert km.count_macs(model) == km.count_macs(body) + head


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="Received: backbone=42"):
        segmentation.LRASPP(backbone=42)
    with pytest.raises(ValueError, match="Unknown model 'MobileNetV9'"):
        segmentation.LRASPP(backbone="MobileNetV9")
    with pytest.raises(ValueError, match="backbone_arguments=.*include_top"):
        segmentation.DeepLabV3(backbone="MobileNetV2", backbone_weights=None,
                               backbone_arguments={"include_top": True})
    with pytest.raises(ValueError, match="Received: atrous_rates=\\(\\)"):
        segmentation.DeepLabV3(backbone="MobileNetV2", atrous_rates=())
    with pytest.raises(ValueError, match="Received: output_stride=8"):
        segmentation.LRASPP(backbone="MobileNetV3Small", backbone_weights=None,
                            input_shape=(64, 64, 3), output_stride=8)


def test_mean_iou_of_logits():
    metric = segmentation.mean_iou(3)
    labels = np.array([[[0, 1], [1, 2]]], "int32")
    logits = np.eye(3, dtype="float32")[np.array([[[0, 1], [2, 2]]])]
    metric.update_state(labels, logits)
    # class 0: 1/1, class 1: 1/2, class 2: 1/2
    np.testing.assert_allclose(float(metric.result()), (1 + 0.5 + 0.5) / 3,
                               rtol=1e-6)
