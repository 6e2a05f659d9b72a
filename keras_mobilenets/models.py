"""Every public model, by name: what the command line and the tests iterate over."""

import dataclasses
import typing

from . import _v4_weights, mobilenet, mobilenet_v2, mobilenet_v3, mobilenet_v4


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    builder: typing.Callable
    module: object  # has preprocess_input and decode_predictions
    default_size: int  # input size of the default ImageNet weights
    weights_note: str
    # A narrow configuration that builds fast: what tests sweep every model with.
    small: typing.Mapping = dataclasses.field(default_factory=dict)

    def preprocess(self, images):
        return self.module.preprocess_input(images)


MODELS = {
    "MobileNet": ModelEntry(
        mobilenet.MobileNet, mobilenet, 224,
        "alpha 0.25/0.5/0.75/1.0 x 128/160/192/224", dict(alpha=0.25),
    ),
    "MobileNetV2": ModelEntry(
        mobilenet_v2.MobileNetV2, mobilenet_v2, 224,
        "alpha 0.35/0.5/0.75/1.0 x 96/128/160/192/224; 1.3/1.4 x 224",
        dict(alpha=0.35),
    ),
    "MobileNetV3Small": ModelEntry(
        mobilenet_v3.MobileNetV3Small, mobilenet_v3, 224,
        "alpha 0.75/1.0; minimalistic 1.0 (224)", dict(alpha=0.75),
    ),
    "MobileNetV3Large": ModelEntry(
        mobilenet_v3.MobileNetV3Large, mobilenet_v3, 224,
        "alpha 0.75/1.0; minimalistic 1.0 (224)", dict(alpha=0.75),
    ),
}


def _v4_entries():
    """V4: native size of the default checkpoint; inputs normalised in-model."""
    for key, size, small_alpha in [
        ("conv_small", 224, 0.5), ("conv_medium", 256, 0.5),
        ("conv_large", 384, 0.25), ("hybrid_medium", 256, 0.5),
        ("hybrid_large", 384, 0.25),
    ]:
        builder = mobilenet_v4.BUILDERS[key]
        yield builder.__name__, ModelEntry(
            builder, mobilenet_v4, size,
            "timm tags " + ", ".join(_v4_weights.tags(key)),
            dict(alpha=small_alpha),
        )


MODELS.update(_v4_entries())


def get(name):
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}; choose one of {', '.join(MODELS)}."
        ) from None
