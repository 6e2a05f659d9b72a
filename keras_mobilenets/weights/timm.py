"""Converts timm checkpoints (safetensors) to Keras weights, with NumPy only:
no PyTorch, no pickle, and no model module imported.

The conversion is mechanical. A timm tensor `blocks.2.1.dw_start.conv.weight`
belongs to the Keras layer named after its module path with dots written as
underscores, `blocks_2_1_dw_start_conv`; the class of that layer says which of
its variables the tensor fills and how it is transposed (`RULES`). There is
no per-layer table. It is also strict: every tensor of the checkpoint is used
(`num_batches_tracked`, which inference never reads, is the only one dropped),
every variable is filled and every shape checked, or a WeightsError lists what
is missing, extra or mis-shaped and the model is left untouched.

The command line is `keras-mobilenets convert timm IN OUT --model NAME`.
"""

import os
import re

import numpy as np
from keras import layers

from ..errors import WeightsError
from ..layers import LayerScale, RMSNorm2D
from . import h5

# timm tensors that no Keras variable holds: BatchNorm's update counter.
DROPPED_LEAVES = ("num_batches_tracked",)

# Per Keras layer class: {Keras variable name: (timm tensor name within the
# module, axes of the transpose from PyTorch's layout or None)}.
RULES = {
    # (out, in, rows, cols) -> (rows, cols, in, out)
    layers.Conv2D: {"kernel": ("weight", (2, 3, 1, 0)), "bias": ("bias", None)},
    # (channels, 1, rows, cols) -> (rows, cols, channels, 1)
    layers.DepthwiseConv2D: {
        "kernel": ("weight", (2, 3, 0, 1)), "bias": ("bias", None),
    },
    # (out, in) -> (in, out)
    layers.Dense: {"kernel": ("weight", (1, 0)), "bias": ("bias", None)},
    layers.BatchNormalization: {
        "gamma": ("weight", None),
        "beta": ("bias", None),
        "moving_mean": ("running_mean", None),
        "moving_variance": ("running_var", None),
    },
    LayerScale: {"gamma": ("gamma", None)},
    # timm's RmsNorm2d (MobileNetV5)
    RMSNorm2D: {"gamma": ("weight", None)},
}


def _rules(layer):
    for cls in type(layer).__mro__:
        if cls in RULES:
            return RULES[cls]
    raise WeightsError(
        f"Cannot convert timm weights into layer {layer.name!r}: no rule for "
        f"{type(layer).__name__} layers (known: "
        f"{', '.join(cls.__name__ for cls in RULES)})."
    )


def _group_by_layer(state_dict):
    """{Keras layer name: (timm module path, {tensor name: array})}."""
    modules = {}
    for name, array in state_dict.items():
        module, _, leaf = name.rpartition(".")
        if leaf in DROPPED_LEAVES:
            continue
        key = module.replace(".", "_")
        if key in modules and modules[key][0] != module:
            raise WeightsError(
                f"timm modules {modules[key][0]!r} and {module!r} map to the "
                f"same Keras layer name {key!r}."
            )
        modules.setdefault(key, (module, {}))[1][leaf] = array
    return modules


def _guess_module(layer_name, modules):
    """The timm path of a module missing from the checkpoint, for messages:
    the path of a present module whose name differs only in its block
    indices ("blocks.2.0.pw_exp.conv" for blocks_2_1_pw_exp_conv), with the
    indices filled in; the Keras name where none fits."""
    digits = re.compile(r"(?<![^_])\d+(?![^_])")
    pattern = digits.sub("#", layer_name)
    for module, _ in modules.values():
        key = module.replace(".", "_")
        if digits.sub("#", key) == pattern:
            indices = iter(digits.findall(layer_name))
            return re.sub(r"(?<![^.])\d+(?![^.])", lambda m: next(indices),
                          module)
    return None


def _ignored(module, ignore):
    return any(module == p or module.startswith(p + ".") for p in ignore)


def convert_state_dict(model, state_dict, ignore=(), source="The checkpoint"):
    """Converts a timm state dict {name: array} for `model`.

    Returns {layer name: [arrays in the order of `layer.weights`]}, as
    `weights.assign_strict` takes. `ignore` lists timm module paths that may
    be in the checkpoint but not in the model (the classifier head of a model
    built without it); their tensors are dropped. Anything else that does not
    fit raises a WeightsError naming every missing, extra or mis-shaped
    tensor, before any variable is touched.
    """
    modules = _group_by_layer(state_dict)
    present = dict(modules)
    out, missing, extra, mismatched, wrong_dtype, bad = {}, [], [], [], [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        rules = _rules(layer)
        module, tensors = modules.pop(layer.name, (None, {}))
        guess = module or _guess_module(layer.name, present)
        arrays = []
        for variable in layer.weights:
            if variable.name not in rules:
                raise WeightsError(
                    f"Cannot convert timm weights into variable "
                    f"{variable.path!r}: no rule for a {type(layer).__name__} "
                    f"variable named {variable.name!r}."
                )
            leaf, axes = rules[variable.name]
            timm_name = (f"{guess}.{leaf}" if guess else
                         f"{layer.name}.{leaf} (for {variable.path})")
            if leaf not in tensors:
                missing.append(timm_name)
                continue
            value = np.asarray(tensors.pop(leaf))
            if not np.issubdtype(value.dtype, np.floating):
                wrong_dtype.append(f"{timm_name}: {value.dtype}")
            else:
                bad += filter(None, [h5.non_finite(timm_name, value)])
            converted = value
            if axes is not None and value.ndim == len(axes):
                converted = value.transpose(axes)
            if converted.shape != tuple(variable.shape):
                mismatched.append(
                    f"{timm_name}: checkpoint {value.shape}, model "
                    f"{tuple(variable.shape)} ({variable.path})"
                )
            arrays.append(converted)
        extra.extend(f"{module}.{leaf}" for leaf in tensors)
        out[layer.name] = arrays
    for module, tensors in modules.values():
        if not _ignored(module, ignore):
            extra.extend(f"{module}.{leaf}" for leaf in tensors)
    h5.raise_if_unfit(source, model, (
        ("missing from the checkpoint", missing),
        ("in the checkpoint but not in the model", sorted(extra)),
        ("shape mismatch", mismatched),
        ("not floating point", wrong_dtype),
        ("with NaN or infinite values", bad),
    ))
    return out


def read_safetensors(path):
    """{name: NumPy array} of a safetensors file, read without PyTorch."""
    import safetensors.numpy  # on first use: building a model needs none

    try:
        return safetensors.numpy.load_file(path)
    except Exception as e:  # safetensors raises its own error types
        raise WeightsError(
            f"{path} could not be read as a safetensors file "
            f"({type(e).__name__}: {e}). It may be truncated or corrupted: "
            "delete it and download it again."
        ) from None


def load_safetensors(model, path, ignore=()):
    """Converts the timm checkpoint at `path` into `model`, all or nothing."""
    source = os.path.basename(path)
    arrays = convert_state_dict(model, read_safetensors(path), ignore, source)
    h5.assign_strict(model, arrays, source)
