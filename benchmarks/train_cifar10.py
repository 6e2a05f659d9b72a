"""`keras-mobilenets train` against the same recipe written by hand in
plain Keras, on CIFAR-10 as JPEG class folders (docs/fine-tuning.md's
table): the same training subset, epochs, batch, size and backbone; test
accuracy, wall time, training images/s, and the share of a training step
spent waiting on data (1 - pipeline rate / compute-only rate).

    KERAS_BACKEND=tensorflow python benchmarks/train_cifar10.py \\
        --cifar10 /work/cifar10 --per-class 500 --epochs 10 --size 96

Each run is its own process (`--only command|by_hand`), the command run
exactly as a user types it.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time


def subset(cifar10, per_class, test_per_class, folder):
    """train/ (the first `per_class` images of each class, by name) and
    test/ (the first `test_per_class`, all by default) of symbolic links."""
    for split, count in (("train", per_class), ("test", test_per_class)):
        for name in sorted(os.listdir(os.path.join(cifar10, split))):
            source = os.path.join(cifar10, split, name)
            target = os.path.join(folder, split, name)
            os.makedirs(target, exist_ok=True)
            for f in sorted(os.listdir(source))[:count]:
                os.symlink(os.path.join(source, f), os.path.join(target, f))


def compute_rate(model, size, batch, steps=15):
    """Training images/s of `model` on one batch held in memory (no input
    pipeline), after a warm-up: what the step costs without waiting."""
    import keras
    import numpy as np
    import tensorflow as tf

    x = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3))
    y = np.eye(model.output.shape[-1])[np.arange(batch) %
                                       model.output.shape[-1]]
    ds = tf.data.Dataset.from_tensors((x.astype("float32"),
                                       y.astype("float32"))).repeat()
    model.compile(keras.optimizers.AdamW(1e-5),
                  keras.losses.CategoricalCrossentropy(),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)
    began = time.time()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.time() - began)


def by_hand(args, folder, output):
    """The recipe in plain Keras: image_dataset_from_directory, the
    package's train transform as a layer in tf.data, a frozen then
    unfrozen backbone (BatchNorm frozen), AdamW with warm-up and cosine
    decay, label smoothing, the best epoch kept."""
    import keras
    import tensorflow as tf

    import keras_mobilenets as km

    size, batch = args.size, args.batch_size
    keras.utils.set_random_seed(args.seed)
    train, val = keras.utils.image_dataset_from_directory(
        os.path.join(folder, "train"), validation_split=0.1, subset="both",
        seed=args.seed, image_size=(32, 32), batch_size=None,
        label_mode="categorical")
    test = keras.utils.image_dataset_from_directory(
        os.path.join(folder, "test"), image_size=(32, 32), batch_size=batch,
        label_mode="categorical", shuffle=False)
    classes = len(train.class_names)
    augment = km.train_transform(km.MobileNet, size=(size, size),
                                 seed=args.seed)
    crop_pct = km.data_config(km.MobileNet)["crop_pct"]  # the eval transform's
    resize = keras.Sequential([
        keras.layers.Resizing(int(size / crop_pct), int(size / crop_pct)),
        keras.layers.CenterCrop(size, size)])
    auto = tf.data.AUTOTUNE
    steps = int(train.cardinality()) // batch
    train = (train.cache().shuffle(10000, seed=args.seed)
             .map(lambda x, y: (augment(x), y), num_parallel_calls=auto)
             .batch(batch, drop_remainder=True).prefetch(auto))
    val = val.cache().batch(batch).map(lambda x, y: (resize(x), y)).prefetch(auto)
    test = test.map(lambda x, y: (resize(x), y)).prefetch(auto)

    from keras_mobilenets import bundled

    full = km.MobileNet(alpha=0.25, weights=bundled.weights_file())
    base = km.MobileNet(alpha=0.25, weights=None, include_top=False,
                        pooling="avg", input_shape=(size, size, 3))
    for layer in base.layers:
        if layer.weights:
            layer.set_weights(full.get_layer(layer.name).get_weights())
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Dropout(0.2)(base(x))
    model = keras.Model(inputs, keras.layers.Dense(
        classes, activation="softmax")(x))

    def compile_for(peak, epochs):
        total = epochs * steps
        warm = min(steps, total - 1)  # a one-epoch warm-up, then cosine
        schedule = keras.optimizers.schedules.CosineDecay(
            peak / 10, decay_steps=total - warm, warmup_target=peak,
            warmup_steps=warm)
        model.compile(keras.optimizers.AdamW(schedule, weight_decay=0.05),
                      keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                      metrics=["accuracy"])

    best = os.path.join(output, "best.weights.h5")
    keep = keras.callbacks.ModelCheckpoint(
        best, monitor="val_accuracy", save_best_only=True,
        save_weights_only=True)
    frozen = max(1, round(args.epochs / 5))
    base.trainable = False
    compile_for(1e-3, frozen)
    began = time.time()
    seconds = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, l: seconds.append(-time.time()),
        on_test_begin=lambda l: seconds.__setitem__(
            -1, seconds[-1] + time.time()) if seconds[-1] < 0 else None)
    model.fit(train, validation_data=val, epochs=frozen, verbose=2,
              callbacks=[keep, timer])
    base.trainable = True
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    compile_for(1e-4, args.epochs - frozen)
    model.fit(train, validation_data=val, epochs=args.epochs,
              initial_epoch=frozen, verbose=2,
              callbacks=[keep, timer,
                         keras.callbacks.EarlyStopping("val_accuracy",
                                                       patience=5)])
    wall = time.time() - began
    model.load_weights(best)
    _, accuracy = model.evaluate(test, verbose=0)
    later = [t for i, t in enumerate(seconds) if i not in (0, frozen)]
    later = later or seconds  # the first epoch of each stage compiles
    rate = steps * batch * len(later) / sum(later)
    return {"test_accuracy": float(accuracy), "wall_s": wall,
            "images_per_s": rate,
            "compute_images_per_s": compute_rate(model, size, batch)}


def command(args, folder, output):
    """`keras-mobilenets train` as a user types it, timed from outside."""
    import csv

    line = ["keras-mobilenets", "train", folder, "--size", str(args.size),
            "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--output", os.path.join(output, "run"), "--seed", str(args.seed)]
    if args.model:
        line += ["--model", args.model, "--weights", "none"]
    print(" ".join(line), flush=True)
    began = time.time()
    code = subprocess.run([sys.executable, "-c", (
        "import sys; sys.argv = {!r}; from keras_mobilenets.cli import main; "
        "sys.exit(main())").format(line)]).returncode
    wall = time.time() - began
    if code:
        sys.exit(code)
    import keras
    import numpy as np

    from keras_mobilenets import training  # also registers the classes

    with open(os.path.join(output, "run", "report.md")) as f:
        text = f.read()
    accuracy = float(text.split("test accuracy: **")[1].split("%")[0]) / 100
    with open(os.path.join(output, "run", "history.csv")) as f:
        rows = list(csv.DictReader(f))
    later = training.steady(rows)  # the first epoch of each stage compiles
    rate = np.mean([float(r["images_per_second"]) for r in later])
    model = keras.saving.load_model(os.path.join(output, "run", "model.keras"))
    return {"test_accuracy": accuracy, "wall_s": wall,
            "images_per_s": float(rate),
            "compute_images_per_s": compute_rate(model, args.size,
                                                 args.batch_size),
            "command": " ".join(line[:2] + ["DATA"] + line[3:])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar10", default="/work/cifar10")
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0, help="of the "
                        "split, the shuffle, the crops and the new top")
    parser.add_argument("--model", help="default: MobileNet 0.25 with the "
                        "shipped weights; a name: initial weights "
                        "(--only command)")
    parser.add_argument("--only", choices=("command", "by_hand"))
    parser.add_argument("--work", default="/tmp/train_cifar10")
    parser.add_argument("--json", help="append the results to this file")
    args = parser.parse_args()
    if args.only is None:
        for only in ("command", "by_hand"):
            subprocess.run([sys.executable, __file__, *sys.argv[1:],
                            "--only", only], check=True)
        return
    folder = os.path.join(args.work, "data")
    if not os.path.isdir(folder):
        subset(args.cifar10, args.per_class, args.test_per_class, folder)
    output = os.path.join(args.work, args.only)
    shutil.rmtree(output, ignore_errors=True)
    os.makedirs(output)
    result = (command if args.only == "command" else by_hand)(
        args, folder, output)
    result.update(run=args.only, backend=os.environ.get("KERAS_BACKEND"),
                  model=args.model or "MobileNet 0.25 (shipped weights)",
                  per_class=args.per_class, test_per_class=args.test_per_class,
                  epochs=args.epochs, batch_size=args.batch_size,
                  size=args.size, seed=args.seed,
                  data_wait_share=max(0.0, 1 - result["images_per_s"] /
                                      result["compute_images_per_s"]))
    print(json.dumps(result))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
