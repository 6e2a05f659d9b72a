"""Run by tests/test_train_processes.py, twice at once: one process of a
job of two on this machine (JAX, one CPU device each), `train` for one
epoch on a tiny generated folder (MobileNet 0.25 from initial weights: two
models built, not the shipped weights' four); prints what it saw as JSON.

    KERAS_BACKEND=jax python tests/train_processes.py ROOT PORT PROCESS_ID

Process 0 writes ROOT/out-0 and process 1 is told ROOT/out-1, so the test
sees that only process 0 writes (a real job names one folder).
"""

import hashlib
import json
import os
import sys

import keras

import keras_mobilenets as km


class Seen(keras.callbacks.Callback):
    """The devices the model's variables live on, and the steps run."""

    steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        v = self.model.trainable_variables[0].value
        self.devices = len(v.sharding.device_set)


def main():
    root, port, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = Seen()
    model, history = km.train(
        os.path.join(root, "data"), output=os.path.join(root, f"out-{index}"),
        model="MobileNet", alpha=0.25, weights="none", size=32, epochs=1,
        batch_size=4, verbose=0, callbacks=[seen],
        job_addresses=f"127.0.0.1:{port}", num_processes=2, process_id=index)
    import jax

    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(w.tobytes())
    print(json.dumps({"process": jax.process_index(),
                      "processes": jax.process_count(),
                      "devices": seen.devices, "steps": seen.steps,
                      "epochs": len(history.epoch),
                      "val_accuracy": history.history["val_accuracy"],
                      "weights": digest.hexdigest()}))


if __name__ == "__main__":
    main()
