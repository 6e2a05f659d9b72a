"""The XLA options our models' JAX steps compile with on a CPU.

XLA's CPU compiler (jaxlib 0.10) hands every full convolution to YNNPACK,
which runs it on one thread, slower than XLA's own (Eigen) convolution
even on one core. `OPTIONS` gives convolutions back to Eigen and keeps
YNNPACK for dots and reductions (BatchNorm's statistics, where it is the
faster one); the figures are in docs/speed.md.

`fit`, `evaluate`, `predict` and the `*_on_batch` methods of this
package's models (`keras_mobilenets.Model`) compile their steps with
`options()`. A `keras.Model` that wraps one of ours compiles with JAX's
defaults: build it as a `keras_mobilenets.Model` instead, pass `options()`
to your own `jax.jit(..., compiler_options=...)`, or put `XLA_FLAGS_VALUE`
in the `XLA_FLAGS` environment variable before JAX starts. A choice of
your own in `XLA_FLAGS` wins; `ENABLED = False` turns this off.
"""

import contextlib
import functools
import os

import keras

ENABLED = True  # set False to compile with JAX's defaults

_FLAG = "xla_cpu_experimental_ynn_fusion_type"
OPTIONS = {_FLAG: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,"
                  "LIBRARY_FUSION_TYPE_REDUCE"}
XLA_FLAGS_VALUE = f"--{_FLAG}={OPTIONS[_FLAG]}"


def options():
    """The compiler options for a JAX step on this machine: `OPTIONS` on
    JAX's CPU backend where this jaxlib knows them, else {}."""
    if not ENABLED or keras.backend.backend() != "jax":
        return {}
    import jax

    if jax.default_backend() != "cpu" or _FLAG in os.environ.get(
            "XLA_FLAGS", ""):
        return {}
    return dict(OPTIONS) if _accepted() else {}


@functools.lru_cache(maxsize=None)
def _accepted():
    """Whether this jaxlib compiles with `OPTIONS` (an experimental flag,
    which a later XLA may rename or drop)."""
    import jax

    try:
        jax.jit(lambda x: x + 1).lower(1.0).compile(
            compiler_options=OPTIONS)
    except Exception:  # an unknown option or value: JAX's defaults, then
        return False
    return True


@contextlib.contextmanager
def keras_steps():
    """Within it, Keras' JAX trainer compiles the steps it makes with
    `options()` (nothing changes on other backends or devices)."""
    opts = options()
    trainer = _jax_trainer() if opts else None
    if trainer is None:
        yield
        return
    plain = trainer.jit
    trainer.jit = functools.partial(plain, compiler_options=opts)
    try:
        yield
    finally:
        trainer.jit = plain


def _jax_trainer():
    """Keras' JAX trainer module where it compiles with `jax.jit` (not
    Flax NNX's), else None."""
    import jax

    try:
        from keras.src.backend.jax import trainer
    except ImportError:
        return None
    return trainer if getattr(trainer, "jit", None) is jax.jit else None
