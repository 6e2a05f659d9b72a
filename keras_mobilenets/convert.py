"""Checkpoint conversion behind `keras-mobilenets convert <source> ...`:
one function per source (timm, torchvision), each writing a file
`weights=<path>` loads. OUT.weights.h5 is Keras 3's own layout (`model.load_weights` reads
it); any other OUT.h5 is the by-layer-name layout of the official Keras
files, from which a model without the top can load its part."""

import os

from . import registry
from .detection import SSDLite
from .weights import h5, timm
from .weights import torchvision as torchvision_weights


def timm_models():
    """The timm architecture names `convert timm --model` takes."""
    return sorted(registry.timm_names())


def from_timm(source, output, model):
    """Converts the timm MobileNetV4 checkpoint `source` (.safetensors) of
    architecture `model` (a timm name, e.g. "mobilenetv4_conv_small") into
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
    _save(keras_model, output)
    top = f"the {classes}-class top" if include_top else "no top"
    return (f"{source} -> {output} ({model}: {keras_model.name}, "
            f"alpha={alpha}, {top})")


def _save(keras_model, output):
    if output.endswith(".weights.h5"):
        keras_model.save_weights(output)  # Keras 3's own layout
    else:
        h5.save_weights_file(keras_model, output)


# torchvision's detection models: {name: backbone of keras_mobilenets}.
TORCHVISION_MODELS = {"ssdlite320_mobilenet_v3_large":
                      "TorchvisionMobileNetV3Large"}


def torchvision_models():
    return sorted(TORCHVISION_MODELS)


def from_torchvision(model, output, state_dict=None):
    """Converts torchvision's `model` (its COCO weights, downloaded by
    torchvision; or the state dict file `state_dict`, read with
    `torch.load(weights_only=True)`, no torchvision needed) into the Keras
    weights file `output` of `detection.SSDLite`; returns a one-line
    summary."""
    if model not in TORCHVISION_MODELS:
        raise ValueError(f"unknown torchvision model. Expected one of "
                         f"{torchvision_models()}. Received: model={model!r}")
    if state_dict is None:
        arrays, source = torchvision_weights.download_ssdlite(), model
    else:
        arrays = torchvision_weights.read_pth(state_dict)
        source = os.path.basename(state_dict)
    name = "head.classification_head.module_list.0.1.weight"
    if name not in arrays:
        raise ValueError(f"{source} is not an SSDLite state dict: it has no "
                         f"{name}. Received: {len(arrays)} tensors")
    classes = arrays[name].shape[0] // 6  # 6 default boxes per location
    keras_model = SSDLite(TORCHVISION_MODELS[model], num_classes=classes)
    converted = torchvision_weights.convert_ssdlite(keras_model, arrays,
                                                    source)
    h5.assign_strict(keras_model, converted, source)
    _save(keras_model, output)
    return (f"{source} -> {output} ({model}: {keras_model.name}, "
            f"{classes} classes)")


def _timm_command(args):
    return from_timm(args.input, args.output, args.model)


def _timm_arguments(parser):
    what = SOURCES["timm"][2]
    parser.add_argument("input", help=what)
    parser.add_argument("output", help=OUTPUT_HELP)
    parser.add_argument("--model", required=True, choices=timm_models(),
                        help="architecture of the checkpoint")


def _torchvision_command(args):
    return from_torchvision(args.model, args.output, args.state_dict)


def _torchvision_arguments(parser):
    parser.add_argument("model", choices=torchvision_models(),
                        help="torchvision's model name")
    parser.add_argument("output", help=OUTPUT_HELP)
    parser.add_argument(
        "--state-dict", metavar="FILE", help="a local state dict of that "
        "model (torch.save(model.state_dict(), FILE)), read with "
        "torch.load(weights_only=True), instead of torchvision's COCO "
        "weights (which need torchvision installed)")


OUTPUT_HELP = ("Keras weights file to write: .weights.h5 (Keras 3 layout) or "
               ".h5 (by layer name)")

# `keras-mobilenets convert <source> ...`: {source: (command(args) -> a
# summary line, add_arguments(parser), help)}; a new source is one function
# above and one entry here.
SOURCES = {
    "timm": (_timm_command, _timm_arguments,
             "a timm MobileNetV4 checkpoint (.safetensors)"),
    "torchvision": (_torchvision_command, _torchvision_arguments,
                    "torchvision's SSDLite COCO weights (or a local state "
                    "dict of it)"),
}
