"""Anti-aliased downsampling (timm's `aa_layer`): `layers.BlurPool2D` and the
average pooling equal timm's layers (fixture: fixture_scripts/
make_v4_fixtures.py), and MobileNetV4ConvAALarge / ConvBlurMedium put them
where timm does (their whole-network parity is in test_mobilenet_v4.py)."""

import os

import keras
import numpy as np
import pytest

import keras_mobilenets as km
from conftest import model_outputs
from keras_mobilenets import blocks
from keras_mobilenets.layers import BlurPool2D

FIXTURE = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "fixtures", "v4", "downsample.npz"))
BLUR_CASES = {"blurpc": 3, "blurpc_even": 3, "blur5_constant": 5}


@pytest.mark.parametrize("case", sorted(BLUR_CASES))
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_blur_pool_equals_timms(case, data_format):
    x, want = FIXTURE[f"{case}_x"], FIXTURE[f"{case}_y"]
    layer = BlurPool2D(BLUR_CASES[case], 2, data_format=data_format)
    if data_format == "channels_first":
        got = layer(x.transpose(0, 3, 1, 2))
        got = keras.ops.convert_to_numpy(got).transpose(0, 2, 3, 1)
    else:
        got = keras.ops.convert_to_numpy(layer(x))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert not layer.weights


def test_average_pooling_downsample_equals_timms():
    x, want = FIXTURE["avg_x"], FIXTURE["avg_y"]
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, blocks.downsample(inputs, "avg", 2, "aa"))
    np.testing.assert_allclose(model_outputs(model, x), want, rtol=0, atol=1e-6)


def test_blur_pool_config_and_errors():
    layer = BlurPool2D(5, 3, data_format="channels_first", name="bp")
    config = layer.get_config()
    assert {k: config[k] for k in ("filter_size", "stride", "data_format",
                                   "name")} == {
        "filter_size": 5, "stride": 3, "data_format": "channels_first",
        "name": "bp"}
    copy = BlurPool2D.from_config(config)
    x = np.ones((1, 4, 9, 10), "float32")
    y = keras.ops.convert_to_numpy(copy(x))
    assert copy.compute_output_shape(x.shape) == y.shape
    assert copy.compute_output_shape((1, 4, None, 10)) == (1, 4, None, y.shape[-1])
    with pytest.raises(ValueError, match="Received: filter_size=1"):
        BlurPool2D(1)
    with pytest.raises(ValueError, match="Received: stride=True"):
        BlurPool2D(3, True)
    with pytest.raises(ValueError, match="Received: data_format='nhwc'"):
        BlurPool2D(data_format="nhwc")
    with pytest.raises(ValueError, match="Received: downsample='max'"):
        blocks.downsample(keras.Input((8, 8, 3)), "max", 2, "aa")


@pytest.fixture(scope="module")
def blur_medium():
    return km.MobileNetV4ConvBlurMedium(alpha=0.5, weights=None,
                                        input_shape=(64, 64, 3))


def test_blur_medium_downsamples_after_each_strided_activation(blur_medium):
    model = blur_medium
    # timm: conv at stride 1, BatchNorm + activation, then the aa layer.
    for block, conv, act in (("blocks_0_0_", "conv_exp", "bn1_act"),
                             ("blocks_1_0_", "dw_mid_conv", "dw_mid_bn_act"),
                             ("blocks_3_0_", "dw_mid_conv", "dw_mid_bn_act")):
        aa = model.get_layer(block + ("aa" if conv == "conv_exp" else "dw_mid_aa"))
        assert isinstance(aa, BlurPool2D) and aa.stride == 2
        assert aa.input is model.get_layer(block + act).output
        assert model.get_layer(block + conv).strides == (1, 1)
    # The stem keeps its strided convolution; no other layer downsamples.
    assert model.get_layer("conv_stem").strides == (2, 2)
    assert sum(isinstance(l, BlurPool2D) for l in model.layers) == 4
    assert model.output.shape == (None, 1000)


def test_blur_pool_counts_as_a_fixed_depthwise_conv(blur_medium):
    aa = blur_medium.get_layer("blocks_0_0_aa")
    assert aa.count_macs() == np.prod(aa.output.shape[1:]) * 9


def test_aa_large_uses_average_pooling():
    model = km.MobileNetV4ConvAALarge(alpha=0.25, weights=None,
                                      include_top=False,
                                      input_shape=(64, 64, 3))
    pools = [l for l in model.layers
             if isinstance(l, keras.layers.AveragePooling2D)]
    assert [l.name for l in pools] == ["blocks_0_0_aa", "blocks_1_0_dw_mid_aa",
                                       "blocks_2_0_dw_mid_aa",
                                       "blocks_3_0_dw_mid_aa"]
    assert all(l.pool_size == (2, 2) and l.strides == (2, 2) for l in pools)
    assert model.output.shape == (None, 2, 2, 240)
