"""A functional model with the layers of the functional models nested in it
(a backbone called as a layer under a new head) in its own graph, so each
convolution meets its BatchNormalization."""

import keras

from ..model import Model


def _functional(op):
    return isinstance(op, keras.Model) and hasattr(op, "_run_through_graph")


def inline_nested(model):
    """`model` itself when nothing functional is nested in it; else a flat
    functional model of copies of every layer (same configs, names and
    weights) computing the same function, with `model`'s facts."""
    if not any(_functional(op) for op in model.operations):
        return model
    copies = []
    # A nested model's layers keep their names (taps and weight files name
    # them); an outer layer of the same name (two `rescaling`s) is renamed.
    nested = {}

    def collect(functional):
        for op in functional.operations:
            if _functional(op):
                collect(op)
            else:
                nested[id(op)] = op.name

    for op in model.operations:
        if _functional(op):
            collect(op)
    taken = set(nested.values())

    def call(op, *args, **kwargs):
        if _functional(op):
            kwargs.pop("training", None)
            inner = args[0] if len(args) == 1 else list(args)
            return op._run_through_graph(
                inner, operation_fn=lambda o: o, call_fn=call)
        config = op.get_config()
        if id(op) not in nested and config.get("name") in taken:
            k = 1
            while f"{op.name}_{k}" in taken:
                k += 1
            config["name"] = f"{op.name}_{k}"
        taken.add(config.get("name"))
        new = type(op).from_config(config)
        outputs = new(*args, **kwargs)
        copies.append((new, op))
        return outputs

    inputs = [keras.Input(batch_shape=x.shape, dtype=x.dtype, name=x.name)
              for x in model.inputs]
    inputs = keras.tree.pack_sequence_as(model._inputs_struct, inputs)
    outputs = model._run_through_graph(
        inputs, operation_fn=lambda o: o, call_fn=call)
    if isinstance(model, Model):
        flat = Model(inputs, outputs, name=model.name, taps=model.taps,
                     feature_info=model.feature_info,
                     class_names=model.class_names,
                     data_config=model.data_config)
    else:
        flat = keras.Model(inputs, outputs, name=model.name)
    for new, old in copies:
        if getattr(old, "weights", None):  # keras ops (`x + 3`) have none
            new.set_weights([keras.ops.convert_to_numpy(w)
                             for w in old.weights])
    return flat
