"""Checkpoint conversion behind `keras-mobilenets convert <source> IN OUT`:
one function per source (today timm), each writing a file `weights=<path>`
loads. OUT.weights.h5 is Keras 3's own layout (`model.load_weights` reads
it); any other OUT.h5 is the by-layer-name layout of the official Keras
files, from which a model without the top can load its part."""

import os

from . import registry
from .weights import h5, timm


def timm_models():
    """The timm architecture names `convert timm --model` takes."""
    return sorted(registry.timm_names())


def from_timm(source, output, model):
    """Converts the timm MobileNet checkpoint `source` (.safetensors) of
    architecture `model` (a timm name of V1 to V4, e.g.
    "mobilenetv4_conv_small", "mobilenetv2_120d") into
    the Keras weights file `output`; returns a one-line summary."""
    names = registry.timm_names()
    if model not in names:
        raise ValueError(f"unknown timm architecture. Expected one of "
                         f"{sorted(names)}. Received: model={model!r}")
    state_dict = timm.read_safetensors(source)
    include_top = "classifier.weight" in state_dict
    classes = state_dict["classifier.weight"].shape[0] if include_top else 1000
    entry, alpha = names[model]
    keras_model = entry.builder(alpha=alpha, include_top=include_top,
                                classes=classes, weights=None)
    arrays = timm.convert_state_dict(keras_model, state_dict,
                                     source=os.path.basename(source))
    h5.assign_strict(keras_model, arrays, os.path.basename(source))
    if output.endswith(".weights.h5"):
        keras_model.save_weights(output)  # Keras 3's own layout
    else:
        h5.save_weights_file(keras_model, output)
    top = f"the {classes}-class top" if include_top else "no top"
    return (f"{source} -> {output} ({model}: {keras_model.name}, "
            f"alpha={alpha}, {top})")


# `keras-mobilenets convert <source> ...`: a new source (torchvision, say)
# is one function above and one entry here.
SOURCES = {"timm": (from_timm, timm_models,
                    "a timm MobileNet V1-V4 checkpoint (.safetensors)")}
