"""Argument checks shared by every builder; errors say what was received and what is allowed."""

import math
import numbers
import os

import keras

from .weights import HubRepo, hub

PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl", ".pickle")
WEIGHT_SUFFIXES = (".h5", ".hdf5", ".keras", ".safetensors")


def check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(
            f"`{name}` must be True or False. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )


def check_number(name, value, low=0.0, high=None, include_low=False,
                 include_high=True):
    """A real number between `low` and `high` (open or closed ends)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a number. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    ok = math.isfinite(value) and (value >= low if include_low else value > low)
    if high is not None:
        ok = ok and (value <= high if include_high else value < high)
    if not ok:
        interval = ("[" if include_low else "(") + f"{low}, " + (
            "inf)" if high is None else f"{high}" + ("]" if include_high else ")")
        )
        raise ValueError(
            f"`{name}` must be in {interval}. Received: {name}={value!r}"
        )
    return float(value)


def check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an integer >= {minimum}. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
        )
    return int(value)


def check_choice(name, value, allowed):
    """One of the ints `allowed` (a bool or float is refused though
    1 == True == 1.0)."""
    if type(value) is not int or value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(str, allowed))}. "
            f"Received: {name}={value!r}"
        )
    return value


def check_pooling(pooling):
    if pooling not in (None, "avg", "max"):
        raise ValueError(
            "`pooling` must be None, 'avg' or 'max'. "
            f"Received: pooling={pooling!r}"
        )


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


def check_weights(weights, tags=()):
    """Returns ("none" | "imagenet" | "tag" | "path" | "hub", normalised
    value); a hub repository ("hf-hub:<repo_id>[@<revision>]") as a
    `weights.HubRepo`."""
    if weights is None:
        return "none", None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise TypeError(
            "`weights` must be None, 'imagenet', a checkpoint tag, "
            "'hf-hub:<repo_id>' or the path to a weights file. "
            f"Received: weights={weights!r} of type {type(weights).__name__}"
        )
    if weights == "imagenet":
        return "imagenet", weights
    if weights in tags:
        return "tag", weights
    if weights.startswith(hub.PREFIX):
        return "hub", HubRepo(*hub.parse(weights))
    lower = weights.lower()
    if lower.endswith(PICKLE_SUFFIXES):
        raise ValueError(
            f"Refusing to read `weights={weights!r}`: pickle checkpoints "
            "(.pth, .pt, .bin, .ckpt, .pkl) can run arbitrary code when loaded, "
            "so they are never opened. Convert it to safetensors first, e.g. "
            "`safetensors.torch.save_file(torch.load(path, weights_only=True), "
            "'model.safetensors')` in a trusted environment."
        )
    if not os.path.isfile(weights):
        allowed = "None, 'imagenet'"
        if tags:
            allowed += ", one of the tags " + ", ".join(repr(t) for t in tags)
        raise ValueError(
            f"`weights` must be {allowed}, 'hf-hub:<repo_id>' (a timm "
            "repository of the Hugging Face hub) or the path to an existing weights "
            f"file ({', '.join(WEIGHT_SUFFIXES)}). "
            f"Received: weights={weights!r}, which is not an existing file."
        )
    return "path", weights


def data_format_axes():
    """(channel_axis, row_axis, col_axis) within an input shape without batch."""
    if keras.config.image_data_format() == "channels_first":
        return 0, 1, 2
    return 2, 0, 1


def resolve_input_shape(
    input_shape, input_tensor, default_size, min_size, include_top, pretrained
):
    """Validates `input_shape`/`input_tensor`; returns the shape without batch.

    Follows keras.applications: with no shape and a classifier top, the
    default square size; without a top, spatial dimensions are left as None.
    """
    channel_axis, row_axis, col_axis = data_format_axes()
    if input_tensor is not None:
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
        input_shape = tensor_shape[1:]
    if input_shape is None:
        if include_top and default_size is not None:
            shape = [None, None, None]
            shape[channel_axis] = 3
            shape[row_axis] = shape[col_axis] = default_size
            return tuple(shape)
        return (3, None, None) if channel_axis == 0 else (None, None, 3)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple of three entries "
            "(rows, cols, channels), rows and cols may be None. "
            f"Received: input_shape={input_shape!r}"
        )
    for dim in input_shape:
        if dim is not None and (
            isinstance(dim, bool) or not isinstance(dim, numbers.Integral)
        ):
            raise TypeError(
                "`input_shape` entries must be positive integers or None. "
                f"Received: input_shape={input_shape!r}"
            )
    input_shape = tuple(None if d is None else int(d) for d in input_shape)
    channels = input_shape[channel_axis]
    if channels is None or channels < 1 or (pretrained and channels != 3):
        allowed = "3" if pretrained else "a positive integer (3 for RGB)"
        raise ValueError(
            f"The input must have {allowed} channels"
            f"{' with pretrained weights' if pretrained else ''}. "
            f"Received: input_shape={input_shape}"
        )
    rows, cols = input_shape[row_axis], input_shape[col_axis]
    for dim in (rows, cols):
        if dim is not None and dim < min_size:
            raise ValueError(
                f"Input size must be at least {min_size}x{min_size}. "
                f"Received: input_shape={input_shape}"
            )
    return input_shape
