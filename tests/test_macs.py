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


# timm's own counts (fvcore, `benchmarks/timm_macs.py` with timm 1.0.31 and
# fvcore 0.1.5): convolutions and linear layers, two per element of each
# affine BatchNorm, one per element read by average pooling; fvcore does not
# trace the hybrids' attention.
TIMM_FVCORE = {"conv_small": (224, 189.98e6), "conv_medium": (256, 1095.46e6),
               "hybrid_medium": (256, 1245.21e6)}


def test_v4_conv_small_matches_the_published_figure():
    # timm publishes 0.19 GMACs at 224, counted by fvcore (norms included);
    # the paper's convention (convolutions and the classifier) gives 0.186G.
    model = km.MobileNetV4ConvSmall(weights=None, input_shape=(224, 224, 3))
    macs = count_macs(model, count_norm=True)
    assert abs(macs - 0.19e9) <= 0.02 * 0.19e9, macs
    assert count_macs(model) < macs - 3e6


@pytest.mark.parametrize("variant", sorted(TIMM_FVCORE))
def test_v4_matches_timms_own_count(variant):
    size, timm_macs = TIMM_FVCORE[variant]
    model = km.registry.timm_names()[f"mobilenetv4_{variant}"][0].builder(
        weights=None, input_shape=(size, size, 3))
    attention = sum(l.count_macs() for l in model.layers
                    if isinstance(l, km.layers.MultiQueryAttention))
    assert abs(count_macs(model, count_norm=True) - attention - timm_macs) \
        <= 0.001 * timm_macs
    assert (attention > 0) == variant.startswith("hybrid")


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
