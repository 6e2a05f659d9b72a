"""Our models' JAX steps compile with `fast.xla_cpu.options()` on a CPU: the
options reach Keras' `jax.jit` of every step, change no output, and give
way to the user's `XLA_FLAGS`, the switch and a jaxlib that refuses them."""

import os

import keras
import numpy as np
import pytest

import keras_mobilenets
from keras_mobilenets.fast import xla_cpu

BACKEND = keras.backend.backend()
pytestmark = pytest.mark.skipif(
    BACKEND != "jax", reason="XLA compiler options of JAX's CPU backend")


@pytest.fixture
def recorded_jit(monkeypatch):
    """The keyword arguments of every `jax.jit` call Keras' trainer makes
    (the recorder stands in for `jax.jit` there and in JAX itself, so the
    trainer still compiles with "jax.jit")."""
    import jax
    from keras.src.backend.jax import trainer

    calls = []
    plain = jax.jit

    def recorder(fun=None, **kwargs):
        calls.append(kwargs)
        return plain(fun, **kwargs)

    monkeypatch.setattr(jax, "jit", recorder)
    monkeypatch.setattr(trainer, "jit", recorder)
    return calls


def _model():
    return keras_mobilenets.MobileNetV3Small(
        weights=None, input_shape=(64, 64, 3), classes=10)


def test_every_keras_step_compiles_with_the_options(recorded_jit):
    model = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype(
        "float32")
    y = np.arange(4)
    model.predict_on_batch(x)
    model.train_on_batch(x, y)
    model.test_on_batch(x, y)
    steps = [kw for kw in recorded_jit if "donate_argnums" in kw]
    assert len(steps) == 3, recorded_jit
    for kwargs in steps:
        assert kwargs.get("compiler_options") == xla_cpu.OPTIONS
    from keras.src.backend.jax import trainer

    assert trainer.jit.__name__ == "recorder"  # put back after each step


def test_the_options_change_no_output():
    import jax

    model = _model()
    x = np.random.default_rng(1).uniform(0, 255, (4, 64, 64, 3)).astype(
        "float32")
    ours = model.predict_on_batch(x)
    plain = jax.jit(lambda v, n, x: model.stateless_call(v, n, x)[0])(
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables], x)
    np.testing.assert_allclose(ours, np.asarray(plain), rtol=1e-5, atol=1e-6)


def test_a_wrapping_model_gets_them_as_a_keras_mobilenets_model(recorded_jit):
    """A new head on our backbone: `keras.Model` compiles with JAX's
    defaults, `keras_mobilenets.Model` (docs/speed.md) with the options."""
    backbone = keras_mobilenets.MobileNetV3Small(
        weights=None, input_shape=(64, 64, 3), include_top=False,
        pooling="avg")
    inputs = keras.Input((64, 64, 3))
    head = keras.layers.Dense(3)(backbone(inputs, training=False))
    x = np.zeros((1, 64, 64, 3), "float32")
    for cls, expected in ((keras.Model, None),
                          (keras_mobilenets.Model, xla_cpu.OPTIONS)):
        recorded_jit.clear()
        cls(inputs, head).predict_on_batch(x)
        steps = [kw for kw in recorded_jit if "donate_argnums" in kw]
        assert len(steps) == 1, recorded_jit
        assert steps[0].get("compiler_options") == expected, cls


def test_the_users_flags_the_switch_and_a_refusing_jaxlib_win(monkeypatch):
    assert xla_cpu.options() == xla_cpu.OPTIONS
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", "")
                       + " " + xla_cpu.XLA_FLAGS_VALUE)
    assert xla_cpu.options() == {}
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setattr(xla_cpu, "ENABLED", False)
    assert xla_cpu.options() == {}
    monkeypatch.setattr(xla_cpu, "ENABLED", True)
    monkeypatch.setattr(xla_cpu, "OPTIONS", {
        "xla_cpu_experimental_ynn_fusion_type": "NOT_A_FUSION_TYPE"})
    xla_cpu._accepted.cache_clear()
    try:
        assert xla_cpu.options() == {}
    finally:
        xla_cpu._accepted.cache_clear()
