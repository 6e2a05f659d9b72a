"""Run by tests/test_multi_device.py in a fresh process (the devices must be
declared before JAX or TensorFlow starts): fits a small model a few steps
on one device, then the same model from the same weights on DEVICES
simulated CPU devices (JAX: `keras.distribution.DataParallel`; TensorFlow:
`tf.distribute.MirroredStrategy`), and prints the differences as JSON.

    KERAS_BACKEND=jax python tests/multi_device_fit.py [--train-batch-norm]
"""

import json
import os
import sys

DEVICES = 4
BACKEND = os.environ.get("KERAS_BACKEND", "jax")
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={DEVICES}")
elif BACKEND == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES)
else:
    sys.exit(f"no multi-device fit on the {BACKEND} backend")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_mobilenets as km  # noqa: E402

BATCH, STEPS, CLASSES = 16, 3, 5
TRAIN_BATCH_NORM = "--train-batch-norm" in sys.argv


def build():
    base = km.MobileNetV4ConvSmall(include_top=False, weights=None,
                                   input_shape=(64, 64, 3))
    for layer in base.layers:  # the fine-tuning recipe: BatchNorm frozen
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = TRAIN_BATCH_NORM
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(CLASSES)(x))
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def fit(model, weights):
    model.set_weights(weights)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (BATCH * STEPS, 64, 64, 3)).astype("float32")
    y = rng.integers(0, CLASSES, BATCH * STEPS)
    history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False,
                        verbose=0)
    return [np.asarray(w) for w in model.get_weights()], history.history["loss"]


def main():
    keras.utils.set_random_seed(0)
    one = build()
    start = [np.asarray(w) for w in one.get_weights()]
    weights_one, loss_one = fit(one, start)
    if BACKEND == "jax":
        devices = keras.distribution.list_devices("cpu")
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=devices))
        weights_many, loss_many = fit(build(), start)
    else:
        strategy = tf.distribute.MirroredStrategy(
            [d.name for d in tf.config.list_logical_devices("CPU")])
        devices = strategy.extended.worker_devices
        with strategy.scope():
            model = build()
        weights_many, loss_many = fit(model, start)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(weights_one, start))
    print(json.dumps({
        "backend": BACKEND, "devices": len(devices),
        "max_abs_weight_diff": max(float(np.abs(a - b).max())
                                   for a, b in zip(weights_one, weights_many)),
        "max_abs_weight_change": moved,
        "loss_one": loss_one[-1], "loss_many": loss_many[-1]}))


if __name__ == "__main__":
    main()
