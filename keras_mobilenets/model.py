"""The class of every model this package builds."""

import keras

from .fast import plan as _torch_plan


@keras.saving.register_keras_serializable(package="keras_mobilenets")
class Model(keras.Model):
    """A functional `keras.Model` (built as `Model(inputs, outputs, name=)`,
    with everything a functional model has: config, `.keras` files, cloning,
    nesting) whose inference on the PyTorch backend runs as a flat list of
    PyTorch calls, convolutions with their BatchNorm folded
    (`_torch_plan`): `predict` and calls under `torch.no_grad()` with
    `training` falsy. Anything else (training, recorded gradients, masks,
    other dtypes, other backends, `torch.compile` and export) is Keras' own
    functional call. Both give the same outputs to float32 rounding.
    """

    def call(self, inputs, training=None, mask=None, **kwargs):
        tensor = _torch_plan.plan_input(self, inputs, training, mask, kwargs)
        if tensor is not None:
            return _torch_plan.plan_of(self)(tensor)
        return super().call(inputs, training=training, mask=mask, **kwargs)
