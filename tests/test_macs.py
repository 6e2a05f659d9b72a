"""count_macs matches the multiply-accumulates the papers publish (within 2%)."""

import pytest

import keras_mobilenets as km
from keras_mobilenets.macs import count_macs, layer_macs

# (builder, arguments, published MACs): MobileNet paper Tables 6-7, MobileNetV2
# paper Table 3 / keras.applications docs, MobileNetV3 paper Tables 3-4.
PUBLISHED = [
    (km.MobileNet, dict(), 569e6),
    (km.MobileNet, dict(alpha=0.5, input_shape=(160, 160, 3)), 76e6),
    (km.MobileNetV2, dict(), 300e6),
    (km.MobileNetV2, dict(alpha=0.35), 59e6),
    (km.MobileNetV3Large, dict(input_shape=(224, 224, 3)), 219e6),
    (km.MobileNetV3Large, dict(alpha=0.75, input_shape=(224, 224, 3)), 155e6),
    (km.MobileNetV3Small, dict(input_shape=(224, 224, 3)), 56e6),
    (km.MobileNetV3Large, dict(minimalistic=True, input_shape=(224, 224, 3)), 209e6),
]


@pytest.mark.parametrize("builder, kwargs, published", PUBLISHED,
                         ids=[f"{b.__name__}-{k}" for b, k, _ in PUBLISHED])
def test_macs_match_published(builder, kwargs, published):
    macs = count_macs(builder(weights=None, **kwargs))
    assert abs(macs - published) <= 0.02 * published, macs


def test_v4_conv_small_matches_the_published_two_digit_figure():
    # The MobileNetV4 paper and timm give 0.19 G at 224 (two digits only).
    macs = count_macs(km.MobileNetV4ConvSmall(weights=None,
                                              input_shape=(224, 224, 3)))
    assert round(macs / 1e9, 2) == 0.19, macs


def test_attention_matmuls_are_counted():
    model = km.MobileNetV4HybridMedium(weights=None, input_shape=(256, 256, 3))
    attention = model.get_layer("blocks_2_4_attn")
    # 4 heads, 16x16 queries, 8x8 keys/values (kv stride 2), key/value dim 64.
    assert attention.count_macs() == 4 * 16 * 16 * 8 * 8 * (64 + 64)
    convs_only = sum(layer_macs(l) for l in model.layers
                     if not hasattr(l, "count_macs"))
    assert count_macs(model) > convs_only


def test_dynamic_input_is_refused_clearly():
    model = km.MobileNetV3Small(weights=None, include_top=False)
    with pytest.raises(ValueError, match=r"static input size.*\(None, None, None, 3\)"):
        count_macs(model)
