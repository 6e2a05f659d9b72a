"""Run by tests/test_train.py in a fresh process (devices are declared
before JAX or TensorFlow starts): `train(..., devices="all")` on DEVICES
simulated CPU devices, one epoch on a tiny generated folder; prints what it
saw as JSON.

    KERAS_BACKEND=jax python tests/train_devices.py FOLDER
"""

import json
import os
import sys

DEVICES = 2
BACKEND = os.environ.get("KERAS_BACKEND", "jax")
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={DEVICES}")
else:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES)

import keras  # noqa: E402

import keras_mobilenets as km  # noqa: E402


class Seen(keras.callbacks.Callback):
    """The devices the model's variables live on, once training runs."""

    def on_train_batch_end(self, batch, logs=None):
        v = self.model.trainable_variables[0].value
        if BACKEND == "jax":
            self.devices = len(v.sharding.device_set)
        else:
            self.devices = len(getattr(v, "_values", [v]))


def main():
    root = sys.argv[1]
    seen = Seen()
    model, history = km.train(
        os.path.join(root, "data"), output=os.path.join(root, "out"),
        size=32, epochs=1, batch_size=4, devices="all", verbose=0,
        callbacks=[seen])
    print(json.dumps({"devices": seen.devices,
                      "epochs": len(history.epoch),
                      "files": sorted(os.listdir(os.path.join(root, "out")))}))


if __name__ == "__main__":
    main()
