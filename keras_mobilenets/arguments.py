"""The public arguments of every builder, once: default and documentation of
each, the signature of a builder (a list of names), and its docstring from
one template."""

import dataclasses
import inspect
import textwrap


@dataclasses.dataclass(frozen=True)
class Argument:
    default: object
    doc: str


ARGUMENTS = {
    "input_shape": Argument(None, """Shape without batch, `(rows, cols, 3)`
        (channels last) or `(3, rows, cols)`; rows and cols may be None, else
        at least 32. Ignored when `input_tensor` is given."""),
    "alpha": Argument(1.0, """Width multiplier: scales the number of filters
        of every layer."""),
    "depth_multiplier": Argument(1, """Depth multiplier of the depthwise
        convolutions (channels out per channel in). ImageNet weights need 1."""),
    "dropout": Argument(1e-3, """Dropout rate before the classifier.
        Defaults to 0.001."""),
    "minimalistic": Argument(False, """Use the minimalistic variant: 3x3
        kernels, ReLU, no squeeze-excite (faster on some hardware)."""),
    "include_top": Argument(True, """Whether to include the classifier.
        Defaults to True."""),
    "weights": Argument("imagenet", """None (random initialization),
        "imagenet" (download the default ImageNet weights into the Keras
        cache), a checkpoint tag where the model has several, the path of
        a weights file (.h5, .weights.h5, or a timm .safetensors for
        MobileNetV4), or, for MobileNetV4, a timm repository of the Hugging
        Face hub as "hf-hub:<repo_id>" or "hf-hub:<repo_id>@<revision>"
        (downloaded with huggingface_hub, which honours HF_ENDPOINT,
        HF_HUB_OFFLINE and HF_TOKEN; only its model.safetensors is fetched,
        never a pickle file; its config.json must name this architecture
        and alpha, and gives the number of classes when `classes` is left
        at 1000 and the mean and std of `include_preprocessing`; its
        `label_names`, where it has them, name the classes for
        `decode_predictions(preds, model=model)`). Loading
        is strict: a file that does not fit the model raises a ValueError
        naming what does not fit."""),
    "input_tensor": Argument(None, """Optional Keras tensor (output of
        `keras.Input()`) to use as the model's input."""),
    "pooling": Argument(None, """Without the top: None (4D feature map),
        "avg" or "max" (global pooling to a 2D tensor)."""),
    "classes": Argument(1000, """Number of classes of the top. With
        pretrained weights and the top, those of the weights: left at
        1000, it takes theirs (11821 for MobileNetV4's ImageNet-12k tags,
        the repository's for "hf-hub:" weights); another value must equal
        them."""),
    "dropout_rate": Argument(0.2, """Dropout rate before the classifier.
        Defaults to 0.2."""),
    "classifier_activation": Argument("softmax", """Activation of the top (a
        name or callable); None returns logits. With pretrained weights: None
        or "softmax"."""),
    "include_preprocessing": Argument(True, """Normalise [0, 255] inputs
        inside the model. Defaults to True."""),
    "name": Argument(None, "Name of the model."),
    "drop_path_rate": Argument(0.0, """Stochastic depth for training: the
        residual branch of block n of N is dropped per sample with
        probability drop_path_rate * n / N (timm's schedule), the identity
        at inference. Defaults to 0 (no drop layers). Not in
        keras.applications: an addition after its arguments."""),
    "include_pre_logits": Argument(False, """With `include_top=False`,
        return the pretrained top without its classifier: global average
        pooling, the 1x1 `conv_head` conv, its BatchNorm and activation, a
        (samples, 1280) output (1280 at every alpha, as timm's): timm's
        `forward_head(x, pre_logits=True)`, for linear probes and
        retrieval. `pooling` must then be None or "avg". Defaults to False
        (the last feature map, or its pooling). Not in keras.applications:
        an addition after its arguments."""),
    "output_stride": Argument(32, """Ratio of the input size to the size of
        the last feature map: 32 (the classifier's), 16 or 8 (for dense
        prediction, as DeepLab and timm's `output_stride`). Below 32 the
        stages past that stride keep their resolution and dilate their
        convolutions instead (the first block of such a stage at the
        previous dilation, later ones at twice it, timm's rule); the
        weights are the same. Not in keras.applications: an addition after
        its arguments."""),
}

# keras.applications' order, per generation; our additions come after it.
KERAS_V1 = ("input_shape", "alpha", "depth_multiplier", "dropout",
            "include_top", "weights", "input_tensor", "pooling", "classes",
            "classifier_activation", "name")
KERAS_V2 = ("input_shape", "alpha", "include_top", "weights", "input_tensor",
            "pooling", "classes", "classifier_activation", "name")
KERAS_V3 = ("input_shape", "alpha", "minimalistic", "include_top", "weights",
            "input_tensor", "classes", "pooling", "dropout_rate",
            "classifier_activation", "include_preprocessing", "name")
RESIDUAL = ("drop_path_rate",)  # where blocks have residual branches
PRE_LOGITS = ("include_pre_logits",)  # where the top has a wide 1x1 conv
DENSE = ("output_stride",)  # every generation

V1 = KERAS_V1 + DENSE  # no residual branches
V2 = KERAS_V2 + RESIDUAL + DENSE
V3 = KERAS_V3 + RESIDUAL + DENSE
V4 = (tuple(a for a in KERAS_V3 if a != "minimalistic") + RESIDUAL
      + PRE_LOGITS + DENSE)


def signature(names, defaults=None):
    """The `inspect.Signature` of a builder taking `names`, in that order."""
    defaults = defaults or {}
    return inspect.Signature([
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=defaults.get(n, ARGUMENTS[n].default))
        for n in names
    ])


TEMPLATE = """Instantiates the {title} architecture ({paper}).

Returns a functional `keras.Model`, optionally with pretrained weights.

{weights_note}

Inputs: images with pixels in [0, 255] through {preprocessing}.

Args:
{args}

Returns:
    A `keras.Model`.
"""


def _arg_doc(name):
    text = " ".join(ARGUMENTS[name].doc.split())
    return textwrap.fill(f"{name}: {text}", 76, initial_indent="    ",
                         subsequent_indent="        ")


def docstring(title, paper, names, preprocessing, weights_note):
    return TEMPLATE.format(
        title=title, paper=paper, preprocessing=preprocessing,
        weights_note=weights_note,
        args="\n".join(_arg_doc(n) for n in names))
