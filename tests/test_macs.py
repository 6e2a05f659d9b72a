"""count_macs matches the multiply-accumulates the papers publish (within 2%)."""

import pytest

import keras_mobilenets as km
from keras_mobilenets.macs import count_macs

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


def test_dynamic_input_is_refused_clearly():
    model = km.MobileNetV3Small(weights=None, include_top=False)
    with pytest.raises(ValueError, match=r"static input size.*\(None, None, None, 3\)"):
        count_macs(model)
