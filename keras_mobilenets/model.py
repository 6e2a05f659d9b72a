"""The class of every model this package builds: a functional `keras.Model`
that carries its facts (feature taps, class names, eval recipe) in its
config, runs PyTorch inference as a plan and compiles JAX steps with XLA's
faster CPU options."""

import dataclasses
import math
import typing

import keras

from . import feature_info as feature_info_lib
from .fast import plan as fast_plan
from .fast import xla_cpu

# Set on the outputs `keras.models.clone_model` gets from `_run_through_graph`
# and read by the `Model(...)` it builds next, which it passes no facts.
_HANDOFF = "_keras_mobilenets_facts"


def _checked_taps(taps):
    """{stride: layer name} from a dict or [stride, name] pairs (a config's
    JSON form), or None."""
    if taps is None:
        return None
    pairs = taps.items() if isinstance(taps, dict) else taps
    try:
        out = {int(s): n for s, n in pairs}
    except (TypeError, ValueError):
        out = None
    if not out or not all(isinstance(n, str) and s > 0
                          for s, n in out.items()):
        raise ValueError("`taps` must map strides (positive ints) to layer "
                         f"names. Received: taps={taps!r}")
    return out


def _tuples(value):
    """`value` with every list turned into a tuple (a config's JSON lists)."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def _lists(value):
    """`value` with every tuple turned into a list (JSON's form)."""
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class _Facts:
    """A model's facts, immutable (and a plain object, which no tracker of
    Keras or TensorFlow wraps)."""

    taps: typing.Optional[tuple] = None  # ((stride, layer name), ...)
    class_names: typing.Optional[tuple] = None  # ((class id, name), ...)
    data_config: typing.Optional[tuple] = None  # ((key, value), ...)
    feature_info: typing.Optional[tuple] = None  # (feature_info.Block, ...)

    @classmethod
    def of(cls, taps=None, class_names=None, data_config=None,
           feature_info=None):
        """From the keyword arguments of `Model` (a config's JSON form
        too: lists for tuples, [stride, name] pairs for taps, dicts for
        blocks). Taps not given are the record's (`feature_info.taps`)."""
        records = feature_info_lib.checked(feature_info)
        taps = _checked_taps(taps)
        if taps is None and records is not None:
            taps = feature_info_lib.taps(records)
        return cls(
            taps=None if taps is None else tuple(sorted(taps.items())),
            feature_info=records,
            class_names=_tuples(class_names),
            data_config=None if data_config is None else tuple(
                (k, _tuples(v)) for k, v in dict(data_config).items()))

    def config(self):
        """The four config entries, in JSON's form."""
        return {"taps": _lists(self.taps),
                "feature_info": None if self.feature_info is None else [
                    r.config() for r in self.feature_info],
                "class_names": _lists(self.class_names),
                "data_config": None if self.data_config is None else {
                    k: _lists(v) for k, v in self.data_config}}


def _fact(name, doc, as_dict=False):
    """A read-only property of `Model`: its fact `name` (a new dict each time
    where `as_dict`), or None where unknown."""
    def get(model):
        value = getattr(model._facts, name)
        return dict(value) if as_dict and value is not None else value
    return property(get, doc=doc)


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class Model(keras.Model):
    """A functional `keras.Model` (built as `Model(inputs, outputs, name=)`,
    with everything a functional model has: config, `.keras` files, cloning,
    nesting) whose inference on the PyTorch backend runs as a flat list of
    PyTorch calls, convolutions with their BatchNorm folded
    (`fast.plan`): `predict` and calls under `torch.no_grad()` with
    `training` falsy. Anything else (training, recorded gradients, masks,
    other dtypes, other backends, `torch.compile` and export) is Keras' own
    functional call. Both give the same outputs to float32 rounding. On
    JAX's CPU backend its Keras steps (`fit`, `evaluate`, `predict`, the
    `*_on_batch` methods) compile with `fast.xla_cpu.options()`.

    It carries four facts, keyword arguments kept in its config (so
    `.keras` files, `keras.models.clone_model`, `fold_batch_norm` and a
    reload in another process keep them; each is None where unknown, e.g.
    in a `.keras` file of an earlier release):

    - `feature_info`: the record of its trunk, written by the builder
      block by block (`feature_info.Block`: stride, output layer, channels,
      expansion layer);
    - `taps`: {stride: name of the layer whose output is the feature map
      at that stride} (the last block at each resolution; `pyramid_outputs`),
      the record's where not given;
    - `class_names`: ((class id, class name), ...) of the top, where its
      weights name its classes (a hub repository's `label_names`);
    - `data_config`: the eval recipe of the checkpoint the model was built
      from, or normalises with (timm's keys; `keras_mobilenets.data_config`).
    """

    _facts = None  # a `_Facts`; set in __init__

    def __init__(self, inputs, outputs, name=None, **kwargs):
        given = {key: kwargs.pop(key, None)
                 for key in ("taps", "class_names", "data_config",
                             "feature_info")}
        super().__init__(inputs, outputs, name=name, **kwargs)
        facts = _Facts.of(**given)
        if facts == _Facts():
            facts = self._handed_over(outputs) or facts
        self._facts = facts

    def _handed_over(self, outputs):
        """The facts of the model `clone_model` is copying (see
        `_run_through_graph`), where every tap names a layer of this one."""
        flat = keras.tree.flatten(outputs)
        facts = getattr(flat[0], _HANDOFF, None) if flat else None
        if facts is None or any(getattr(x, _HANDOFF, None) is not facts
                                for x in flat):
            return None
        names = {layer.name for layer in self.layers}
        held = {n for _, n in facts.taps or ()} | feature_info_lib.names(
            facts.feature_info)
        return facts if held <= names else None

    def _run_through_graph(self, inputs, *args, **kwargs):
        outputs = super()._run_through_graph(inputs, *args, **kwargs)
        if self._facts is not None and self._facts != _Facts():
            flat = keras.tree.flatten(outputs)
            if flat and all(isinstance(x, keras.KerasTensor) for x in flat):
                for x in flat:
                    setattr(x, _HANDOFF, self._facts)
        return outputs

    taps = _fact("taps", "{stride: layer name} of the feature maps, or None.",
                 as_dict=True)
    feature_info = _fact("feature_info", "The record of the trunk (a tuple "
                         "of `feature_info.Block`), or None.")
    class_names = _fact("class_names", "((class id, class name), ...) of the "
                        "top, or None.")
    data_config = _fact("data_config", "The checkpoint's eval recipe (a new "
                        "dict each time), or None.", as_dict=True)

    @property
    def pyramid_outputs(self):
        """{"P1": map at stride 2, ..., "P5": map at stride 32} (up to the
        model's output stride; P is log2 of the stride), the symbolic
        outputs of the tapped layers: keras-hub's `FeaturePyramidBackbone`
        convention, so `keras.Model(model.inputs, model.pyramid_outputs)`
        is a feature extractor."""
        if self._facts.taps is None:
            raise ValueError(
                f"Model {self.name!r} carries no feature taps (a `.keras` "
                "file of an earlier release): "
                "`keras_mobilenets.features.feature_layers(model)` "
                "recognises them by layer name.")
        return {f"P{int(math.log2(s))}": self.get_layer(n).output
                for s, n in self._facts.taps}

    def get_config(self):
        config = super().get_config()
        config.update(self._facts.config())
        return config

    def make_train_function(self, force=False):
        with xla_cpu.keras_steps():
            return super().make_train_function(force)

    def make_test_function(self, force=False):
        with xla_cpu.keras_steps():
            return super().make_test_function(force)

    def make_predict_function(self, force=False):
        with xla_cpu.keras_steps():
            return super().make_predict_function(force)

    def call(self, inputs, training=None, mask=None, **kwargs):
        tensor = fast_plan.plan_input(self, inputs, training, mask, kwargs)
        if tensor is not None:
            return fast_plan.plan_of(self)(tensor)
        return super().call(inputs, training=training, mask=mask, **kwargs)
