"""Building a model whose every weight will be loaded next, without running
the random initializers whose values the load overwrites.

Keras fills each new variable from its layer's initializer. On JAX that
compiles one random-number program per new shape: most of the time it takes
to build a MobileNet in a fresh process (docs/speed.md, "First prediction").
Inside `placeholder_weights()`, variables that layers create in this thread
start as zeros made by NumPy instead. The layers keep their initializers,
so `get_config` and saved `.keras` files are unchanged; only the values the
loader then overwrites (strictly: every variable filled) are skipped.
"""

import contextlib
import threading

import keras
import numpy as np

from .weights.h5 import host_to_backend

_active = threading.local()
_lock = threading.Lock()
_installed = {"users": 0, "add_weight": None}


def _zeros(shape, dtype=None):
    """Zeros made by NumPy (no backend program to compile), or by the
    backend for dtypes NumPy lacks (bfloat16)."""
    dtype = keras.backend.standardize_dtype(dtype)
    try:
        return host_to_backend(np.zeros(shape, np.dtype(dtype)))
    except TypeError:
        return keras.ops.zeros(shape, dtype)


def _add_weight(original):
    def add_weight(self, *args, **kwargs):
        if getattr(_active, "depth", 0):
            if len(args) > 1:  # add_weight(shape, initializer, ...)
                args = (args[0], _zeros) + args[2:]
            else:
                kwargs["initializer"] = _zeros
        return original(self, *args, **kwargs)

    add_weight.__wrapped__ = original
    return add_weight


@contextlib.contextmanager
def placeholder_weights():
    """Within this context, in this thread, new layer variables are zeros
    instead of their initializers' values: use it only to build a model
    whose every variable is assigned from a weight file afterwards."""
    with _lock:
        if _installed["users"] == 0:
            _installed["add_weight"] = keras.layers.Layer.add_weight
            keras.layers.Layer.add_weight = _add_weight(
                _installed["add_weight"])
        _installed["users"] += 1
    _active.depth = getattr(_active, "depth", 0) + 1
    try:
        yield
    finally:
        _active.depth -= 1
        with _lock:
            _installed["users"] -= 1
            if _installed["users"] == 0:
                keras.layers.Layer.add_weight = _installed["add_weight"]
