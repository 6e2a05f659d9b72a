"""Keras weight files (HDF5): reading, writing, and assigning them strictly.

Loading is all-or-nothing: the whole file is read and checked against the
model (every tensor used, every variable filled, every shape equal) before a
single variable is assigned, so a failed load leaves the model untouched.
"""

import os
import warnings

import h5py
import keras
import numpy as np

from ..errors import WeightsError


def host_to_backend(array):
    """A NumPy array as the backend's tensor, without compiling anything:
    on JAX `jnp.asarray` (Keras' conversion) compiles one conversion program
    per new shape, `jax.device_put` none."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.device_put(array)
    return array


def non_finite(name, array):
    """"name: N NaN or infinite values" when a floating array holds any,
    else None: a file that parses can still hold garbage."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        return None
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    return f"{name}: {bad} of {array.size}" if bad else None


def canonical_layer_name(name):
    """Keras 2 and Keras 3 spell the same MobileNetV3 layer differently
    ("expanded_conv/depthwise/BatchNorm" vs "expanded_conv_depthwise_bn");
    official files use the former. Both map to one key."""
    return name.lower().replace("/", "_").replace("batchnorm", "bn")


def _decode(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def read_weights_file(path):
    """Reads a legacy (Keras 2) HDF5 weights file, the layout of the official
    files (root attribute `layer_names`, one group per layer listing its
    `weight_names`), into {layer name: [arrays in order]}.

    Returns None for a Keras 3 `.weights.h5` file, whose groups are keyed by
    Keras' internal object paths rather than layer names.
    """
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise WeightsError(
            f"{path} is not a readable HDF5 weights file ({e}). It may be "
            "truncated or corrupted: delete it and download it again."
        ) from None
    try:
        with f:
            if "model_weights" in f:
                f = f["model_weights"]
            if "layer_names" in f.attrs:
                out = {}
                for layer in f.attrs["layer_names"]:
                    group = f[_decode(layer)]
                    names = [_decode(n) for n in group.attrs["weight_names"]]
                    out[_decode(layer)] = [np.asarray(group[n]) for n in names]
                return out
            if "layers" in f:
                return None  # Keras 3 layout: keyed by Keras' own paths
    except WeightsError:
        raise
    except Exception as e:  # h5py raises many kinds on damaged files
        raise WeightsError(
            f"{path} could not be read as a weights file ({type(e).__name__}: "
            f"{e}). It may be truncated or corrupted."
        ) from None
    raise WeightsError(
        f"{path} is an HDF5 file but not a Keras weights file: it has neither "
        "a `layer_names` attribute (Keras 2 .h5) nor a `layers` group "
        "(Keras 3 .weights.h5)."
    )


def raise_if_unfit(source, model, problems):
    """Raises a WeightsError listing every non-empty (label, names) of
    `problems`, eight names each at most; returns if all are empty."""
    if not any(items for _, items in problems):
        return
    lines = [f"{source} does not fit model {model.name!r}:"]
    for label, items in problems:
        if items:
            shown = ", ".join(items[:8])
            more = f" (and {len(items) - 8} more)" if len(items) > 8 else ""
            lines.append(f"  {len(items)} {label}: {shown}{more}")
    raise WeightsError("\n".join(lines))


def assign_strict(model, arrays_by_layer, source):
    """Assigns {layer name: [arrays]} to `model`, all or nothing.

    Every layer of the model that has weights must be in the file and every
    layer in the file that has weights must be in the model, with the same
    number of arrays of the same shapes and only finite values; otherwise a
    WeightsError lists what is missing, extra, mis-shaped or not finite and
    no variable is changed.
    """
    layers = {}
    for layer in model.layers:
        if layer.weights:
            key = canonical_layer_name(layer.name)
            if key in layers:
                raise WeightsError(
                    f"Layers {layers[key].name!r} and {layer.name!r} have the "
                    "same canonical name; cannot load by name."
                )
            layers[key] = layer
    given = {
        canonical_layer_name(name): (name, arrays)
        for name, arrays in arrays_by_layer.items()
        if len(arrays)
    }
    missing = sorted(layers[k].name for k in layers.keys() - given.keys())
    extra = sorted(given[k][0] for k in given.keys() - layers.keys())
    mismatched, bad = [], []
    plan = []
    for key in sorted(layers.keys() & given.keys()):
        layer, (name, arrays) = layers[key], given[key]
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(a.shape) for a in arrays]
        bad += filter(None, (non_finite(f"{name}/{w.name}", a)
                             for w, a in zip(layer.weights, arrays)))
        if expected != found:
            mismatched.append(f"{layer.name}: model {expected}, file {found}")
        else:
            plan.append((layer, arrays))
    raise_if_unfit(source, model, (
        ("missing from the file", missing),
        ("in the file but not in the model", extra),
        ("shape mismatch", mismatched),
        ("with NaN or infinite values", bad),
    ))
    for layer, arrays in plan:
        for variable, value in zip(layer.weights, arrays):
            variable.assign(host_to_backend(value.astype(variable.dtype)))


def _keras3_datasets(path):
    """(shapes of every array, the arrays that hold NaN or inf) of a Keras 3
    `.weights.h5` file."""
    shapes, bad = [], []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            shapes.append(tuple(obj.shape))
            problem = non_finite(name, obj[()])
            if problem:
                bad.append(problem)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return shapes, bad


def _load_keras3(model, path):
    """Keras' own loader, made strict and all-or-nothing."""
    source = os.path.basename(path)
    found, bad = _keras3_datasets(path)
    raise_if_unfit(source, model, (("with NaN or infinite values", bad),))
    found = sorted(found)
    expected = sorted(tuple(v.shape) for v in model.weights)
    if found != expected:
        raise WeightsError(
            f"{source} does not fit model {model.name!r}: the file holds "
            f"{len(found)} arrays, the model {len(expected)} variables, and "
            "their shapes differ."
        )
    snapshot = [keras.ops.convert_to_numpy(v) for v in model.weights]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
            problem = next((str(w.message) for w in caught
                            if "load" in str(w.message).lower()), None)
        except Exception as e:
            problem = f"{type(e).__name__}: {e}"
    if problem:
        for v, value in zip(model.weights, snapshot):
            v.assign(value)
        raise WeightsError(f"{source} does not fit model {model.name!r}: {problem}")


def save_weights_file(model, path):
    """Writes the weights of `model` as an HDF5 file in the layout of the
    official Keras weight files (root attribute `layer_names`, one group per
    layer listing `weight_names`), keyed by layer name, so `load_weights`
    reads it strictly, by name. Keras' own `model.load_weights` also reads it,
    by layer order, when its name ends in ".h5" but not ".weights.h5"."""
    with_weights = [layer for layer in model.layers if layer.weights]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode("utf8")
                                  for layer in with_weights]
        f.attrs["backend"] = keras.backend.backend().encode("utf8")
        f.attrs["keras_version"] = keras.__version__.encode("utf8")
        for layer in with_weights:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{i}_{w.name}"
                     for i, w in enumerate(layer.weights)]
            group.attrs["weight_names"] = [n.encode("utf8") for n in names]
            for name, w in zip(names, layer.weights):
                group.create_dataset(name, data=keras.ops.convert_to_numpy(w))


def load_weights(model, path):
    """Loads a local weights file (.h5 or .weights.h5) into `model`, strictly."""
    if not os.path.isfile(path):
        raise WeightsError(f"No weights file at {path!r}.")
    arrays = read_weights_file(path)
    if arrays is None:
        _load_keras3(model, path)
    else:
        assign_strict(model, arrays, os.path.basename(path))
