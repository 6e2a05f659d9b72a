"""The public arguments of every builder, declared once: the default,
documentation and check of each (`ARGUMENTS`), a builder's signature (a list
of names) and docstring from one template, and `check` of all of them.
Errors say what was received and what is allowed."""

import dataclasses
import inspect
import math
import numbers
import os
import textwrap
import typing

import keras

_DEFAULT = object()


@dataclasses.dataclass(frozen=True)
class Argument:
    """One public argument.

    - `check(name, value)` returns the value to use or raises; None: the
      argument is checked with others (`check` below).
    - `absent`: its value where a builder does not take it, one that
      changes nothing (default: `default`).
    - `option`: the `Options` field it sets (default: its own name).
    """

    default: object
    doc: str
    check: typing.Optional[typing.Callable] = None
    absent: object = _DEFAULT
    option: typing.Optional[str] = None

    def __post_init__(self):
        if self.absent is _DEFAULT:
            object.__setattr__(self, "absent", self.default)


# Checks of one value -------------------------------------------------------

def _type_error(name, value, allowed):
    return TypeError(f"`{name}` must be {allowed}. Received: {name}={value!r} "
                     f"of type {type(value).__name__}")


def _value_error(name, value, allowed):
    return ValueError(
        f"`{name}` must be {allowed}. Received: {name}={value!r}")


def boolean(name, value):
    if not isinstance(value, bool):
        raise _type_error(name, value, "True or False")
    return value


def number(low=0.0, high=None, include_low=False, include_high=True):
    """A check of a real number between `low` and `high` (open or closed
    ends); the value as a float."""
    interval = ("[" if include_low else "(") + f"{low}, " + (
        "inf)" if high is None else f"{high}" + ("]" if include_high else ")"))

    def check(name, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _type_error(name, value, "a number")
        ok = math.isfinite(value) and (
            value >= low if include_low else value > low)
        if high is not None:
            ok = ok and (value <= high if include_high else value < high)
        if not ok:
            raise _value_error(name, value, f"in {interval}")
        return float(value)

    return check


rate = number(0.0, 1.0, include_low=True, include_high=False)


def integer(minimum=1):
    def check(name, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _type_error(name, value, f"an integer >= {minimum}")
        if value < minimum:
            raise _value_error(name, value, f"an integer >= {minimum}")
        return int(value)

    return check


def choice(*allowed):
    """A check of one of the ints `allowed` (a bool or float is refused
    though 1 == True == 1.0)."""

    def check(name, value):
        if type(value) is not int or value not in allowed:
            raise _value_error(name, value,
                               f"one of {', '.join(map(str, allowed))}")
        return value

    return check


def pooling(name, value):
    if value not in (None, "avg", "max"):
        raise _value_error(name, value, "None, 'avg' or 'max'")
    return value


def weights_value(name, value):
    """None or a string (a path as os.PathLike becomes one); which
    checkpoint, file or repository it names is `weights.resolve`'s."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is not None and not isinstance(value, str):
        raise _type_error(name, value, "None, 'imagenet', a checkpoint tag, "
                          "'hf-hub:<repo_id>' or the path to a weights file")
    return value


# `include_pre_logits`: what the top without its classifier is, per model
# (`renderers.pre_logits_doc`), in this sentence.
PRE_LOGITS_DOC = """With `include_top=False`, return the pretrained top
    without its classifier: {top}: timm's `forward_head(x,
    pre_logits=True)`, for linear probes and retrieval. `pooling` must then
    be None or "avg". Defaults to False (the last feature map, or its
    pooling). Not in keras.applications: an addition after its arguments."""


ARGUMENTS = {
    "input_shape": Argument(None, """Shape without batch, `(rows, cols, 3)`
        (channels last) or `(3, rows, cols)`; rows and cols may be None, else
        at least 32. Ignored when `input_tensor` is given."""),
    "alpha": Argument(1.0, """Width multiplier: scales the number of filters
        of every layer.""", check=number()),
    "depth_multiplier": Argument(1, """Depth multiplier of the depthwise
        convolutions (channels out per channel in). ImageNet weights need 1.""",
        check=integer()),
    "dropout": Argument(1e-3, """Dropout rate before the classifier.
        Defaults to 0.001.""", check=rate, absent=0.0),
    "minimalistic": Argument(False, """Use the minimalistic variant: 3x3
        kernels, ReLU, no squeeze-excite (faster on some hardware).""",
        check=boolean),
    "include_top": Argument(True, """Whether to include the classifier.
        Defaults to True.""", check=boolean),
    "weights": Argument("imagenet", """None (random initialization),
        "imagenet" (download the default ImageNet weights into the Keras
        cache), a checkpoint tag where the model has several, the path of
        a weights file (.h5, .weights.h5, or a timm .safetensors for
        timm's networks), or, for timm's networks (MobileNetV4, Timm*,
        Tf*), a folder with a timm config.json and model.safetensors or a
        timm repository of the Hugging
        Face hub as "hf-hub:<repo_id>" or "hf-hub:<repo_id>@<revision>"
        (downloaded with huggingface_hub, which honours HF_ENDPOINT,
        HF_HUB_OFFLINE and HF_TOKEN; only its model.safetensors is fetched,
        never a pickle file; its config.json must name this architecture
        and alpha, and gives the number of classes when `classes` is left
        at 1000 and the mean and std of `include_preprocessing`; its
        `label_names`, where it has them, name the classes for
        `decode_predictions(preds, model=model)`). Loading
        is strict: a file that does not fit the model raises a ValueError
        naming what does not fit.""", check=weights_value),
    "input_tensor": Argument(None, """Optional Keras tensor (output of
        `keras.Input()`) to use as the model's input."""),
    "pooling": Argument(None, """Without the top: None (4D feature map),
        "avg" or "max" (global pooling to a 2D tensor).""", check=pooling),
    "classes": Argument(1000, """Number of classes of the top. With
        pretrained weights and the top, those of the weights: left at
        1000, it takes theirs (11821 for MobileNetV4's ImageNet-12k tags,
        the repository's for "hf-hub:" weights); another value must equal
        them.""", check=integer()),
    "dropout_rate": Argument(0.2, """Dropout rate before the classifier.
        Defaults to 0.2.""", check=rate, absent=0.0, option="dropout"),
    "classifier_activation": Argument("softmax", """Activation of the top (a
        name or callable); None returns logits. With pretrained weights: None
        or "softmax"."""),
    "include_preprocessing": Argument(True, """Normalise [0, 255] inputs
        inside the model. Defaults to True.""", check=boolean, absent=False),
    "name": Argument(None, "Name of the model."),
    "drop_path_rate": Argument(0.0, """Stochastic depth for training: the
        residual branch of block n of N is dropped per sample with
        probability drop_path_rate * n / N (timm's schedule), the identity
        at inference. Defaults to 0 (no drop layers). Not in
        keras.applications: an addition after its arguments.""", check=rate),
    "include_pre_logits": Argument(False, PRE_LOGITS_DOC.format(
        top="global average pooling, the 1x1 `conv_head` conv, its BatchNorm "
        "and activation, a (samples, 1280) output (1280 at every alpha, as "
        "timm's)"), check=boolean),
    "reduced_tail": Argument(False, """Halve the widths of the last stage
        and the last convs (torchvision's `reduced_tail`, MobileNetV3 paper
        section 6.1.1 and Table 6: the backbone of its detection and
        segmentation models). Defaults to False.""", check=boolean),
    "output_stride": Argument(32, """Ratio of the input size to the size of
        the last feature map: 32 (the classifier's), 16 or 8 (for dense
        prediction, as DeepLab and timm's `output_stride`). Below 32 the
        stages past that stride keep their resolution and dilate their
        convolutions instead (the first block of such a stage at the
        previous dilation, later ones at twice it, timm's rule); the
        weights are the same. Not in keras.applications: an addition after
        its arguments.""", check=choice(32, 16, 8)),
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
TORCHVISION_V3 = (tuple(a for a in KERAS_V3 if a != "minimalistic")
                  + ("reduced_tail",) + RESIDUAL + DENSE)


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


def _arg_doc(name, doc=None):
    text = " ".join((doc or ARGUMENTS[name].doc).split())
    return textwrap.fill(f"{name}: {text}", 76, initial_indent="    ",
                         subsequent_indent="        ")


def docstring(title, paper, names, preprocessing, weights_note, docs=None):
    """The builder docstring; `docs`: {argument: text} of a model's own, in
    place of `ARGUMENTS`' text."""
    docs = docs or {}
    return TEMPLATE.format(
        title=title, paper=paper, preprocessing=preprocessing,
        weights_note=weights_note,
        args="\n".join(_arg_doc(n, docs.get(n)) for n in names))


# Checks across arguments ---------------------------------------------------

def check(names, values, default_size=None):
    """The arguments `values` of a builder taking `names`, checked: each
    through its own check, then those that depend on others (the
    classifier's activation, the pre-logits, the input shape). Returns
    {option: value} (`Argument.option`) with the input `shape` without
    batch, its `rows` and `cols`."""
    given = {}
    for name in names:
        argument = ARGUMENTS[name]
        value = values[name]
        if argument.check is not None:
            value = argument.check(name, value)
        given[argument.option or name] = value
    pretrained = given["weights"] is not None
    if given["include_top"]:
        check_activation(given["classifier_activation"], pretrained)
    if given.get("include_pre_logits"):
        check_pre_logits(given["include_top"], given["pooling"])
    shape = input_shape(given["input_shape"], given["input_tensor"],
                        default_size, 32, given["include_top"], pretrained)
    _, row_axis, col_axis = data_format_axes()
    return dict(given, shape=shape, rows=shape[row_axis], cols=shape[col_axis])


def check_pre_logits(include_top, pooling):
    """`include_pre_logits=True` is the top without its classifier, whose
    pooling is global average pooling."""
    received = (f"Received: include_top={include_top}, "
                f"include_pre_logits=True, pooling={pooling!r}")
    if include_top:
        raise ValueError(
            "`include_pre_logits=True` returns the top without its "
            f"classifier: pass it with `include_top=False`. {received}")
    if pooling not in (None, "avg"):
        raise ValueError(
            "`include_pre_logits=True` pools with global average pooling, "
            "as the pretrained top does: `pooling` must be None or 'avg'. "
            f"{received}")


def check_activation(classifier_activation, pretrained_top):
    """Resolvable by Keras; only softmax or None on top of pretrained weights."""
    try:
        fn = keras.activations.get(classifier_activation)
    except Exception as e:  # Keras raises ValueError or TypeError
        raise ValueError(
            "`classifier_activation` must be None, the name of a Keras "
            "activation or a callable. "
            f"Received: classifier_activation={classifier_activation!r}"
        ) from e
    allowed = (keras.activations.get("softmax"), keras.activations.get(None))
    if pretrained_top and fn not in allowed:
        raise ValueError(
            "With pretrained weights and `include_top=True`, "
            "`classifier_activation` must be None or 'softmax'. "
            f"Received: classifier_activation={classifier_activation!r}"
        )


def data_format_axes():
    """(channel_axis, row_axis, col_axis) within an input shape without batch."""
    if keras.config.image_data_format() == "channels_first":
        return 0, 1, 2
    return 2, 0, 1


def _tensor_shape(input_shape, input_tensor):
    """The shape without batch of `input_tensor`, checked against
    `input_shape`."""
    if not keras.backend.is_keras_tensor(input_tensor) and not hasattr(
        input_tensor, "shape"
    ):
        raise TypeError(
            "`input_tensor` must be a Keras tensor (e.g. from keras.Input) "
            "or a backend tensor. "
            f"Received: input_tensor of type {type(input_tensor).__name__}"
        )
    tensor_shape = tuple(input_tensor.shape)
    if len(tensor_shape) != 4:
        raise ValueError(
            "`input_tensor` must be 4D (batch, rows, cols, channels). "
            f"Received: input_tensor.shape={tensor_shape}"
        )
    if input_shape is not None and tuple(input_shape) != tensor_shape[1:]:
        raise ValueError(
            "`input_shape` and `input_tensor` disagree. Received: "
            f"input_shape={tuple(input_shape)}, "
            f"input_tensor.shape={tensor_shape}"
        )
    return tensor_shape[1:]


def input_shape(shape, input_tensor, default_size, min_size, include_top,
                pretrained):
    """Validates `input_shape`/`input_tensor`; returns the shape without batch.

    Follows keras.applications: with no shape and a classifier top, the
    default square size; without a top, spatial dimensions are left as None.
    """
    channel_axis, row_axis, col_axis = data_format_axes()
    if input_tensor is not None:
        shape = _tensor_shape(shape, input_tensor)
    if shape is None:
        shape = [None, None, None]
        shape[channel_axis] = 3
        if include_top and default_size is not None:
            shape[row_axis] = shape[col_axis] = default_size
        return tuple(shape)
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple of three entries "
            "(rows, cols, channels), rows and cols may be None. "
            f"Received: input_shape={shape!r}"
        )
    for dim in shape:
        if dim is not None and (
            isinstance(dim, bool) or not isinstance(dim, numbers.Integral)
        ):
            raise TypeError(
                "`input_shape` entries must be positive integers or None. "
                f"Received: input_shape={shape!r}"
            )
    shape = tuple(None if d is None else int(d) for d in shape)
    channels = shape[channel_axis]
    if channels is None or channels < 1 or (pretrained and channels != 3):
        allowed = "3" if pretrained else "a positive integer (3 for RGB)"
        raise ValueError(
            f"The input must have {allowed} channels"
            f"{' with pretrained weights' if pretrained else ''}. "
            f"Received: input_shape={shape}"
        )
    for dim in (shape[row_axis], shape[col_axis]):
        if dim is not None and dim < min_size:
            raise ValueError(
                f"Input size must be at least {min_size}x{min_size}. "
                f"Received: input_shape={shape}"
            )
    return shape
