"""The fine-tuning recipe behind `keras-mobilenets train`: a folder of
class folders -> a classifier on a pretrained MobileNet, its report and
figures, and optionally a LiteRT or ONNX file (docs/fine-tuning.md)."""

import contextlib
import json
import os
import shutil
import time

import h5py
import keras
import numpy as np

from .. import bundled, data, presets, quantization, registry
from ..errors import WeightsError
from ..model import Model
from . import cluster, exporting, folders, pipeline, report

CHECKPOINT = ".checkpoint"  # inside the output folder, while a run lasts
OUTPUTS = ("model.keras", "labels.txt", "history.csv", "report.md",
           "confusion.png", "curves.png", "errors.png", "model.tflite",
           "model.onnx", CHECKPOINT)
EXPORTS = {"litert": "model.tflite", "onnx": "model.onnx"}
QAT_CALIBRATION_BATCHES = 8
STAGES = ("frozen", "unfrozen")


def train(data_dir, model=None, preset=None, weights=None, alpha=None,
          size=None, epochs=10, batch_size=32, output="trained",
          export=None, int8=False, qat=False, qat_epochs=2, resume=False,
          overwrite=False, devices=None, validation_split=0.1, frozen_epochs=None,
          learning_rate=1e-3, fine_tune_factor=None, warmup_epochs=1,
          weight_decay=0.05, label_smoothing=0.1, dropout=0.2,
          drop_path_rate=0.1, patience=5, mixed_precision="auto",
          cache="auto", seed=0, verbose=1, callbacks=(), job_addresses=None,
          num_processes=None, process_id=None):
    """Fine-tunes a MobileNet on a folder of class folders.

    `data_dir` holds one folder per class (Keras'
    `image_dataset_from_directory` layout), or `train/` and `val/` (and
    `test/`) holding them; without `val/`, a stratified `validation_split`
    of each class, drawn with `seed`. Files without an image suffix, and
    files with one that are no image tf.data decodes, are skipped and
    counted (report.md names them).

    The model: `model` (a registry name; default MobileNet alpha 0.25 with
    the weights shipped in the package), `weights` ("none": initial) and
    `alpha`, or `preset` (a timm checkpoint, as `from_preset` takes it);
    at `size` pixels (default the checkpoint's); global pooling, `dropout`
    and a softmax `Dense` layer. It takes pixels in [0, 255] and carries
    its class names and data config (`Model.class_names`,
    `Model.data_config`).

    The recipe: timm's train transform for the checkpoint; label smoothing;
    AdamW (`weight_decay`) with a warm-up of `warmup_epochs` to
    `learning_rate`, then cosine decay; `frozen_epochs` (default a fifth
    of `epochs`, at least one) with the backbone frozen, then the backbone
    unfrozen at `fine_tune_factor` (default 0.1) times the rate, its
    BatchNorm layers kept frozen (inference mode). From initial weights
    (`weights="none"`) there is nothing to keep: no frozen stage, the
    rate itself, BatchNorm trained. `drop_path_rate` where the model has
    stochastic depth; mixed precision on a GPU (`mixed_precision="auto"`;
    True forces it; model.keras is saved in float32 either way);
    the best epoch by validation accuracy kept; early stop after
    `patience` unfrozen epochs without a better one.

    `output` gets model.keras, labels.txt, history.csv, report.md,
    confusion.png, curves.png, errors.png, and model.tflite or model.onnx
    with `export` ("litert", "onnx"; `int8`: int8 LiteRT calibrated on
    training images; `qat`: `qat_epochs` of quantization-aware training
    after the float stages, model_qat.keras, and the int8 LiteRT file made
    from its learned ranges, see docs/quantization.md). Each epoch is checkpointed atomically in
    `output/.checkpoint`: an interrupted run (Ctrl-C) continues with
    `resume=True`. `devices="all"`: data parallel over every local device
    (JAX, TensorFlow).

    A job of `num_processes` processes (JAX; one a machine, each given the
    same arguments but its `process_id`, and `job_addresses`: HOST:PORT of
    process 0; or Keras' KERAS_DISTRIBUTION_* environment variables, as
    `keras.distribution.initialize` reads them) trains data parallel over
    every device of every process, `batch_size` being the global batch;
    process 0 alone writes `output` (`resume` needs it on a file system
    every process reads) and exports; `qat` is for one process.

    Returns (model, history): the trained model with its best weights and
    a `keras.callbacks.History` of every epoch.
    """
    started = time.time()
    settings = dict(
        data=os.path.abspath(data_dir), model=model, preset=preset,
        weights=weights, alpha=alpha, size=size, epochs=epochs,
        batch_size=batch_size, frozen_epochs=frozen_epochs,
        learning_rate=learning_rate, fine_tune_factor=fine_tune_factor,
        warmup_epochs=warmup_epochs, weight_decay=weight_decay,
        label_smoothing=label_smoothing, dropout=dropout,
        drop_path_rate=drop_path_rate, patience=patience,
        mixed_precision=mixed_precision, cache=cache,
        validation_split=validation_split, seed=seed, export=export,
        int8=int8, qat=qat, qat_epochs=qat_epochs, devices=devices)
    job = cluster.job(job_addresses, num_processes, process_id)
    chief = cluster.is_chief(job)
    checkpoint = os.path.join(output, CHECKPOINT)
    if not resume:
        _check_settings(settings, job)
    # Before joining: the other processes check the folder while process
    # 0, joining, cannot write in it yet.
    state = _prepare_output(output, checkpoint, resume, overwrite, chief)
    if state is not None:  # the interrupted run's settings
        settings = dict(state["settings"], devices=devices)
        settings.pop("num_processes", None)  # this run's, below
        _check_settings(settings, job)
    if job is not None:
        settings["devices"] = "all"
        settings["num_processes"] = job[1]
        # Seeded, the processes start alike without drawing a shared seed.
        keras.utils.set_random_seed(settings["seed"])
    cluster.join(job)
    report.require_matplotlib()
    names, items, skipped = folders.splits(
        settings["data"], settings["validation_split"], settings["seed"])
    if state is not None and state["names"] != names:
        raise ValueError(
            f"--resume: {output} was trained on the classes {state['names']}"
            f". Received: a folder with {names}")
    entry, build, size, pretrained = _builder(settings)
    settings["size"] = size
    _pretrained_or_not(settings, pretrained)
    batch = min(settings["batch_size"], len(items["train"]))
    steps = len(items["train"]) // batch
    if verbose:
        _print_settings(settings, names, items, skipped, state)

    keras.utils.set_random_seed(settings["seed"])
    with _devices(settings["devices"]) as (scope, replicas):
        # The model's layers in mixed precision (on a GPU), not the
        # pipeline's: images stay float32.
        with _precision(settings["mixed_precision"]), scope():
            if state is None:
                net = _classifier(entry, build, size, names, settings)
            else:
                net = keras.saving.load_model(
                    os.path.join(checkpoint, "last.keras"))
        config = net.data_config
        train_transform = data.train_transform(
            net, size=(size, size), seed=settings["seed"])
        val_transform = pipeline.eval_resize(config, size)
        cached = pipeline.should_cache(
            [p for split in items.values() for p, _ in split],
            settings["cache"])
        # Several devices split each batch evenly: the last, partial
        # validation batch is left out of the per-epoch validation (the
        # report's figures use every image).
        val_batch = batch if replicas == 1 else replicas * max(
            1, min(batch, len(items["val"])) // replicas)
        if replicas > 1 and batch % replicas:
            raise ValueError(
                f"--devices all splits each batch over {replicas} devices: "
                f"pass a multiple of {replicas}. Received: --batch-size "
                f"{settings['batch_size']}")
        train_ds = pipeline.dataset(
            items["train"], len(names), batch, train_transform, shuffle=True,
            seed=settings["seed"], cache=cached, drop_remainder=True)
        val_ds = pipeline.dataset(items["val"], len(names), val_batch,
                                  val_transform, cache=cached,
                                  drop_remainder=replicas > 1)
        probe = _pipeline_rate(items["train"], len(names), batch,
                               train_transform)
        if chief:
            os.makedirs(checkpoint, exist_ok=True)
        tracker = _Tracker(output, settings, names, state, batch * steps,
                           verbose, chief)
        try:
            _stages(net, train_ds, val_ds, steps, settings, tracker, scope,
                    list(callbacks), verbose, resumed=state is not None)
        except KeyboardInterrupt:
            print(f"\ninterrupted: {output} holds the last finished epoch; "
                  "continue with --resume (train(..., resume=True)).")
            raise
        tracker.restore_best(net)
        qat = _qat_stage(net, train_ds, val_ds, steps, settings, output,
                         verbose) if settings["qat"] else None
    if not chief:
        return net, tracker.history()
    with cluster.local() if job else contextlib.nullcontext():
        # In a job, a copy on this process's devices alone
        final = net if job is None else _local_copy(net)
        _finish(final, output, names, items, batch, val_transform, tracker,
                settings, skipped, probe, started, verbose)
    if qat is not None:
        exporting.export_qat(
            qat, os.path.abspath(os.path.join(output, EXPORTS["litert"])),
            _check_images(items))
    elif settings["export"]:
        exporting.run(
            os.path.abspath(os.path.join(output, "model.keras")),
            settings["export"],
            os.path.abspath(os.path.join(output, EXPORTS[settings["export"]])),
            _check_images(items),
            [p for p, _ in items["train"][::max(1, len(items["train"]) //
                                               exporting.CALIBRATION_IMAGES)]]
            [:exporting.CALIBRATION_IMAGES] if settings["int8"] else None)
    shutil.rmtree(checkpoint)
    return net, tracker.history()


def _prepare_output(output, checkpoint, resume, overwrite, chief=True):
    """The saved state of an interrupted run (`resume`), else None once the
    folder is free: absent, empty, or cleared of a run's files
    (`overwrite`); by process 0 of a job, the others only checking."""
    state_file = os.path.join(checkpoint, "state.json")
    if resume:
        if not os.path.isfile(state_file):
            raise ValueError(
                f"--resume continues an interrupted run, and {output!r} holds "
                "none (no .checkpoint/state.json"
                + ("; its model.keras says that run finished)" if
                   os.path.isfile(os.path.join(output, "model.keras"))
                   else ")") + f". Received: --output {output} --resume")
        with open(state_file) as f:
            return json.load(f)
    if os.path.isdir(output) and os.listdir(output):
        if not overwrite:
            raise ValueError(
                f"The output folder {output!r} exists and is not empty: pass "
                "--resume to continue the run in it, --overwrite to replace "
                f"it, or another --output. Received: --output {output}")
        for name in OUTPUTS if chief else ():
            path = os.path.join(output, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    elif os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"--output must be a folder. Received: {output!r}, "
                         "a file")
    if chief:
        os.makedirs(output, exist_ok=True)
    return None


def _check_settings(s, job=None):
    def positive(name, kind=int):
        value = s[name]
        if isinstance(value, bool) or not isinstance(value, kind) \
                or value <= 0:
            raise ValueError(f"`{name}` must be a positive {kind.__name__}. "
                             f"Received: {name}={value!r}")

    s.setdefault("qat_epochs", 2)  # a run saved before --qat-epochs
    positive("epochs")
    positive("batch_size")
    positive("patience")
    positive("qat_epochs")
    if s["export"] not in (None, "litert", "onnx"):
        raise ValueError("`export` must be None, 'litert' or 'onnx'. "
                         f"Received: export={s['export']!r}")
    if (s["int8"] or s["qat"]) and s["export"] != "litert":
        raise ValueError("--int8 and --qat make int8 LiteRT files: pass "
                         f"--export litert. Received: export={s['export']!r}")
    if s["int8"] and s["qat"]:
        raise ValueError("--int8 (post-training) and --qat (trained) are two "
                         "ways to int8: pass one.")
    if s["devices"] not in (None, "all"):
        raise ValueError("`devices` must be None (one device) or 'all'. "
                         f"Received: devices={s['devices']!r}")
    if job is not None and s["qat"]:
        raise ValueError(
            "--qat trains in one process: a job of several processes takes "
            "--export litert --int8 (post-training). Received: --qat, "
            f"num_processes={job[1]}")
    if s["devices"] and keras.backend.backend() == "torch":
        raise ValueError(
            "--devices all runs on JAX (keras.distribution) and TensorFlow "
            "(MirroredStrategy); keras.distribution has no PyTorch "
            "implementation. Received: KERAS_BACKEND=torch")
    if s["frozen_epochs"] is not None and not \
            0 <= s["frozen_epochs"] <= s["epochs"]:
        raise ValueError("`frozen_epochs` must be in [0, epochs]. Received: "
                         f"frozen_epochs={s['frozen_epochs']!r}")
    if s["mixed_precision"] not in ("auto", True, False):
        raise ValueError("`mixed_precision` must be 'auto', True or False. "
                         f"Received: {s['mixed_precision']!r}")


def _pretrained_or_not(s, pretrained):
    """The recipe's defaults that depend on the backbone's weights: a
    pretrained one is frozen first, then tuned at a tenth of the rate with
    its BatchNorm statistics kept; initial weights train from the start,
    at the rate, BatchNorm with them (frozen, a freshly initialised
    network's activations fade to nothing, layer after layer)."""
    if s["frozen_epochs"] is None:
        s["frozen_epochs"] = 0 if not pretrained else min(
            s["epochs"], max(1, round(s["epochs"] / 5)))
    if s["fine_tune_factor"] is None:
        s["fine_tune_factor"] = 0.1 if pretrained else 1.0
    s["train_batch_norm"] = not pretrained


def _builder(s):
    """(registry entry, build(**arguments) -> backbone, size): the backbone
    the settings name, as the command line's `--model`, `--weights`,
    `--alpha` and `--preset` do."""
    if s["preset"] is not None:
        if s["model"] or s["weights"] or s["alpha"] is not None:
            raise ValueError("--preset names the model, its width and its "
                             "weights: pass it without --model, --weights "
                             "and --alpha.")
        entry, alpha, weights = presets.resolve(s["preset"])
    else:
        shipped = s["model"] is None and s["weights"] is None \
            and s["alpha"] in (None, bundled.ALPHA)
        entry = registry.get(s["model"] or bundled.MODEL)
        alpha = s["alpha"]
        weights = None if s["weights"] == "none" else \
            s["weights"] or "imagenet"
        if shipped:
            alpha, weights = bundled.ALPHA, bundled.weights_file()
    fixed = {} if alpha is None else {"alpha": alpha}
    if s["drop_path_rate"] and "drop_path_rate" in entry.arguments:
        fixed["drop_path_rate"] = s["drop_path_rate"]
    size = s["size"]
    if size is None:
        size = _checkpoint_size(entry, weights, alpha)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"`size` must be a positive int. Received: size={size!r}")

    def build(**arguments):
        arguments = {**fixed, **arguments}
        try:
            return entry.builder(weights=weights, **arguments)
        except WeightsError:
            if weights is None or not os.path.isfile(str(weights)):
                raise
            # A weights file with its top (the shipped one): a model with
            # the top reads it, the backbone takes its layers by name.
            full = entry.builder(weights=weights, **fixed)
            base = entry.builder(weights=None, **arguments)
            for layer in base.layers:
                if layer.weights:
                    layer.set_weights(full.get_layer(layer.name).get_weights())
            return base

    try:  # before any data is read: a size the model cannot take
        probe = entry.builder(weights=None, include_top=False,
                              input_shape=(size, size, 3), **fixed)
    except ValueError as e:
        raise ValueError(f"{entry.name} cannot take --size {size}: {e}") \
            from None
    del probe
    return entry, build, size, weights is not None


def _checkpoint_size(entry, weights, alpha):
    """The input size of the checkpoint `weights` names (224 where it names
    none, a file)."""
    try:
        config = data.data_config(entry.name, weights if isinstance(
            weights, str) and not os.path.isfile(weights) else "imagenet")
    except ValueError:
        return 224
    return int(config["input_size"][1])


def _classifier(entry, build, size, names, s):
    """The backbone, pooled, with a new softmax top: a `Model` of pixels in
    [0, 255] that carries its class names and data config."""
    base = build(include_top=False, pooling="avg",
                 input_shape=(size, size, 3))
    inputs = keras.Input((size, size, 3), name="pixels")
    x = inputs
    probe = np.array([0.0, 127.5, 255.0], "float32").reshape(1, 1, 1, 3)
    scaled = np.asarray(entry.preprocess(probe.copy())).ravel()
    if np.allclose(scaled, [-1, 0, 1]):  # keras.applications' V1 and V2
        x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(x)
    elif not np.allclose(scaled, probe.ravel()):
        raise ValueError(f"{entry.name}'s preprocessing is neither [-1, 1] "
                         "scaling nor the model's own.")
    x = base(x)
    x = keras.layers.Dropout(s["dropout"], name="head_dropout")(x)
    outputs = keras.layers.Dense(len(names), activation="softmax",
                                 dtype="float32", name="predictions")(x)
    config = dict(base.data_config, input_size=(3, size, size),
                  num_classes=len(names))
    config.pop("test_input_size", None)
    config.pop("test_crop_pct", None)
    return Model(inputs, outputs, name=f"{base.name}_classifier",
                 class_names=[[n, n] for n in names], data_config=config)


def _float32_copy(net):
    """An uncompiled copy of `net` with its weights, every layer in float32:
    mixed precision is how it trained, not what it serves (predict, the
    exported files)."""
    copy = keras.saving.deserialize_keras_object(
        _in_float32(keras.saving.serialize_keras_object(net)),
        custom_objects={type(net).__name__: type(net)})
    copy.set_weights(net.get_weights())  # float32 variables either way
    return copy


def _in_float32(config):
    """A serialized model with its mixed dtype policies float32."""
    if isinstance(config, list):
        return [_in_float32(c) for c in config]
    if not isinstance(config, dict):
        return config
    if config.get("class_name") == "DTypePolicy" and str(
            config.get("config", {}).get("name")).startswith("mixed_"):
        return dict(config, config=dict(config["config"], name="float32"))
    return {k: _in_float32(v) for k, v in config.items()}


def _local_copy(net):
    """The trained model, uncompiled, its weights on this process's
    devices alone (under `cluster.local()`)."""
    copy = keras.models.clone_model(net)
    copy.set_weights(net.get_weights())
    return copy


def _backbone(net):
    return next(layer for layer in net.layers if isinstance(layer, keras.Model))


def _set_stage(net, stage, train_batch_norm=False):
    """Stage "frozen": only the top trains; "unfrozen": the backbone too,
    its BatchNorm layers excepted (they stay in inference mode) unless
    `train_batch_norm`."""
    base = _backbone(net)
    base.trainable = stage == "unfrozen"
    if stage == "unfrozen" and not train_batch_norm:
        for layer in base._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False


def _compile(net, stage, steps, s):
    frozen = s["frozen_epochs"]
    epochs = frozen if stage == "frozen" else s["epochs"] - frozen
    peak = s["learning_rate"] * (1 if stage == "frozen" else
                                 s["fine_tune_factor"])
    total = max(1, epochs * steps)
    warm = min(int(s["warmup_epochs"] * steps), total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 10 if warm else peak,
        decay_steps=max(1, total - warm),
        warmup_target=peak if warm else None, warmup_steps=warm)
    net.compile(
        keras.optimizers.AdamW(schedule, weight_decay=s["weight_decay"]),
        keras.losses.CategoricalCrossentropy(
            label_smoothing=s["label_smoothing"]),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])


def _stages(net, train_ds, val_ds, steps, s, tracker, scope, callbacks,
            verbose, resumed):
    """The frozen stage, then the unfrozen one, from where a resumed run
    stopped (its optimizer, schedule and step count carried on)."""
    done = len(tracker.rows)
    last_stage = tracker.rows[-1]["stage"] if tracker.rows else None
    bounds = {"frozen": (0, s["frozen_epochs"]),
              "unfrozen": (s["frozen_epochs"], s["epochs"])}
    for stage in STAGES:
        start, end = bounds[stage]
        if tracker.stopped or done >= end or start == end:
            continue
        if not (resumed and last_stage == stage):
            with scope():
                _set_stage(net, stage, s.get("train_batch_norm", False))
                _compile(net, stage, steps, s)
        tracker.stage = stage
        net.fit(train_ds, validation_data=val_ds, epochs=end,
                initial_epoch=max(start, done), steps_per_epoch=steps,
                callbacks=[tracker] + callbacks, verbose=verbose,
                shuffle=False)  # the dataset shuffles
        done = len(tracker.rows)


def _check_images(items):
    """Up to CHECK_IMAGES validation image files, spread over the split:
    where an exported file is compared with its Keras model."""
    val = items["val"]
    step = max(1, len(val) // exporting.CHECK_IMAGES)
    return [p for p, _ in val[::step]][:exporting.CHECK_IMAGES]


def _qat_stage(net, train_ds, val_ds, steps, s, output, verbose):
    """Quantization-aware fine-tuning after the float stages (--qat): the
    best float model `quantization.prepare`d, its ranges calibrated on
    QAT_CALIBRATION_BATCHES training batches, then `qat_epochs` epochs at a
    tenth of the fine-tuning rate (cosine decay). Writes DIR/model_qat.keras
    (the QAT model, its learned ranges; what the int8 file is made from)
    and returns the QAT model."""
    qat = quantization.prepare(net)
    quantization.calibrate(qat, (
        x for x, _ in train_ds.take(QAT_CALIBRATION_BATCHES)
        .as_numpy_iterator()))
    peak = s["learning_rate"] * s["fine_tune_factor"] / 10
    qat.compile(
        keras.optimizers.AdamW(keras.optimizers.schedules.CosineDecay(
            peak, max(1, s["qat_epochs"] * steps)),
            weight_decay=s["weight_decay"]),
        keras.losses.CategoricalCrossentropy(
            label_smoothing=s["label_smoothing"]),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    history = qat.fit(train_ds, validation_data=val_ds,
                      epochs=s["qat_epochs"], steps_per_epoch=steps,
                      verbose=verbose, shuffle=False).history
    if verbose and history.get("val_accuracy"):
        print(f"QAT: {s['qat_epochs']} epochs, validation accuracy "
              f"{history['val_accuracy'][-1]:.2%} (int8 simulated)")
    path = os.path.join(output, "model_qat.keras")
    temporary = os.path.join(output, ".model_qat.partial.keras")
    qat.save(temporary)
    os.replace(temporary, path)
    return qat


class _Tracker(keras.callbacks.Callback):
    """Each epoch: its row of history.csv, the best weights by validation
    accuracy, the whole model with its optimizer (for `resume`) and the
    state, each written to a temporary name then renamed, so an interrupted
    run leaves whole files; one summary line; early stop. In a job of
    several processes, process 0 (`chief`) writes; every process keeps the
    best weights in memory, so none reads a file another is writing."""

    def __init__(self, output, settings, names, state, images, verbose,
                 chief=True):
        super().__init__()
        self.output = output
        self.folder = os.path.join(output, CHECKPOINT)
        self.settings, self.names = settings, names
        self.images, self.verbose = images, verbose
        self.chief = chief
        # A resumed run's best epoch may be an earlier one: its file, read
        # before any process trains (so before process 0 writes again).
        best_file = os.path.join(self.folder, "best.weights.h5")
        self.best_weights = read_weights(best_file) if state and \
            os.path.isfile(best_file) else None
        state = state or {}
        self.rows = state.get("rows", [])
        self.best = state.get("best", -1.0)
        self.best_epoch = state.get("best_epoch", 0)
        self.wait = state.get("wait", 0)
        self.stopped = state.get("stopped", False)
        self.stage = None

    def on_epoch_begin(self, epoch, logs=None):
        self._print_summary()
        self.began = time.time()
        self.trained = None

    def on_train_end(self, logs=None):
        self._print_summary()

    def _print_summary(self):
        """The last epoch's line, once Keras' progress bar has ended."""
        if getattr(self, "summary", None):
            print(self.summary)
        self.summary = None

    def on_test_begin(self, logs=None):
        if self.trained is None:
            self.trained = time.time() - self.began

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = self.trained or time.time() - self.began
        rate = self.model.optimizer.learning_rate
        row = {"epoch": epoch + 1, "stage": self.stage,
               "learning_rate": float(keras.ops.convert_to_numpy(rate)),
               "seconds": round(seconds, 2),
               "images_per_second": round(self.images / seconds, 1)}
        row.update({k: float(logs[k]) for k in
                    ("loss", "accuracy", "val_loss", "val_accuracy")})
        self.rows.append(row)
        better = row["val_accuracy"] > self.best
        if better:
            self.best, self.best_epoch, self.wait = row["val_accuracy"], \
                epoch + 1, 0
            self.best_weights = {v.path: keras.ops.convert_to_numpy(v)
                                 for v in self.model.weights}
        elif self.stage == "unfrozen":
            self.wait += 1
        if self.stage == "unfrozen" and self.wait >= \
                self.settings["patience"]:
            self.stopped = True
            self.model.stop_training = True
        if self.chief:
            with cluster.local():
                self._write(better)
        if self.verbose:
            self.summary = (
                f"epoch {epoch + 1}/{self.settings['epochs']} ({self.stage}):"
                f" loss {row['loss']:.4f}, accuracy {row['accuracy']:.2%}, "
                f"val_loss {row['val_loss']:.4f}, val_accuracy "
                f"{row['val_accuracy']:.2%}{' (best)' if better else ''}, "
                f"{seconds:.1f} s, {row['images_per_second']:.1f} images/s"
                + (", early stop" if self.stopped else ""))
            if self.verbose != 1:  # no progress bar to wait for
                self._print_summary()

    def _write(self, better):
        if better:
            self._atomic("best.weights.h5", lambda path: write_weights(
                self.best_weights, path))
        self._atomic("last.keras", self.model.save)
        self._atomic("state.json", self._write_state)
        report.write_history(os.path.join(self.output, "history.csv"),
                             self.rows)

    def restore_best(self, net):
        """The best epoch's weights back in `net`."""
        for v in net.weights:
            v.assign(self.best_weights[v.path])

    def _write_state(self, path):
        with open(path, "w") as f:
            json.dump({"settings": self.settings, "names": self.names,
                       "rows": self.rows, "best": self.best,
                       "best_epoch": self.best_epoch, "wait": self.wait,
                       "stopped": self.stopped}, f, indent=1)

    def _atomic(self, name, write):
        stem, dot, suffix = name.partition(".")
        temporary = os.path.join(self.folder, f"{stem}-partial{dot}{suffix}")
        write(temporary)
        os.replace(temporary, os.path.join(self.folder, name))

    def history(self):
        history = keras.callbacks.History()
        history.epoch = [r["epoch"] - 1 for r in self.rows]
        history.history = {k: [r[k] for r in self.rows] for k in
                           ("loss", "accuracy", "val_loss", "val_accuracy",
                            "learning_rate")}
        return history


def write_weights(weights, path):
    """A model's variables (not its optimizer's), {variable path: array},
    in an HDF5 file: keyed by path, so the order of trainable and frozen
    ones is moot."""
    with h5py.File(path, "w") as f:
        for name, value in weights.items():
            f.create_dataset(name, data=value)


def read_weights(path):
    """What `write_weights` wrote."""
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in _datasets(f)}


def _datasets(group, prefix=""):
    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            yield prefix + key
        else:
            yield from _datasets(item, prefix + key + "/")


def steady(rows):
    """The epochs that compile nothing: all but the first of each stage
    (all where that leaves none)."""
    later = [r for i, r in enumerate(rows)
             if i and r["stage"] == rows[i - 1]["stage"]]
    return later or rows


def _pipeline_rate(items, classes, batch, transform, batches=4):
    """Images/s of the input pipeline alone (decode and train transform,
    uncached), over a few batches."""
    count = min(len(items), batches * batch)
    ds = pipeline.dataset(items[:count], classes, batch, transform)
    began = time.time()
    for _ in ds:
        pass
    return count / max(time.time() - began, 1e-9)


def _predictions(net, items, batch, transform, classes, worst=16):
    """(probabilities, truth, the `worst` misclassified images with their
    index) over `items`, in order."""
    ds = pipeline.dataset(items, classes, batch, transform)
    scores, kept = [], []
    truth = np.array([c for _, c in items])
    for x, _ in ds:
        x = np.asarray(x)
        # A model trained under MirroredStrategy pads a batch its devices
        # cannot split evenly: the rows past the batch are padding.
        p = np.asarray(keras.ops.convert_to_numpy(net.predict_on_batch(x)),
                       "float32")[:len(x)]
        first = sum(len(s) for s in scores)
        scores.append(p)
        for i in range(len(p)):
            t = truth[first + i]
            if p[i].argmax() != t:
                kept.append((float(p[i, t]), first + i, x[i].astype("uint8")))
        kept = sorted(kept, key=lambda k: k[:2])[:worst]
    return np.concatenate(scores), truth, kept


def _finish(net, output, names, items, batch, transform, tracker, s,
            skipped, pipeline_rate, started, verbose):
    """The report, the figures, labels.txt, then model.keras."""
    split = "test" if "test" in items else "val"
    scores, truth, worst = _predictions(net, items[split], batch, transform,
                                        len(names))
    predicted = scores.argmax(-1)
    matrix = report.confusion(truth, predicted, len(names))
    extra = []
    if split == "test":
        val_scores, val_truth, _ = _predictions(
            net, items["val"], batch, transform, len(names), worst=0)
        extra.append(f"validation accuracy: "
                     f"{np.mean(val_scores.argmax(-1) == val_truth):.2%}")
    extra.append(f"images: {len(items['train'])} train, {len(items['val'])} "
                 f"val" + (f", {len(items['test'])} test"
                           if "test" in items else ""))
    rows = tracker.rows
    later = steady(rows)
    train_seconds = sum(r["seconds"] for r in rows)
    timing = {"seconds": time.time() - started,
              "train_seconds": train_seconds,
              "images_per_second": tracker.images * len(later) /
              max(sum(r["seconds"] for r in later), 1e-9),
              "pipeline_images_per_second": pipeline_rate,
              "best_epoch": tracker.best_epoch}
    settings = {k: v for k, v in s.items()}
    settings["backend"] = keras.backend.backend()
    path = lambda name: os.path.join(output, name)  # noqa: E731
    with open(path("labels.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    report.write_history(path("history.csv"), rows)
    report.plot_curves(path("curves.png"), rows, s["frozen_epochs"])
    report.plot_confusion(path("confusion.png"), matrix, names)
    truth_w = np.array([truth[i] for _, i, _ in worst], int)
    report.plot_errors(path("errors.png"), [im for _, _, im in worst],
                       truth_w, np.array([scores[i].argmax()
                                          for _, i, _ in worst], int),
                       np.array([scores[i] for _, i, _ in worst]).reshape(
                           len(worst), len(names)), names)
    with open(path("report.md"), "w") as f:
        f.write(report.markdown(settings, names, split, matrix, rows, timing,
                                skipped, extra))
    final = _float32_copy(net)  # saved without its optimizer
    temporary = path("model-partial.keras")
    final.save(temporary)
    os.replace(temporary, path("model.keras"))
    if verbose:
        print(f"{split} accuracy {np.trace(matrix) / matrix.sum():.2%} "
              f"({int(matrix.sum())} images), best epoch "
              f"{tracker.best_epoch}; {timing['images_per_second']:.1f} "
              f"training images/s; wrote {output}/model.keras, labels.txt, "
              "history.csv, report.md, confusion.png, curves.png, "
              "errors.png")


def _on_gpu():
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.devices()[0].platform == "gpu"
    import torch

    return torch.cuda.is_available()


@contextlib.contextmanager
def _precision(mixed):
    """mixed_float16 while the model is built and trained, on a GPU
    (`mixed="auto"`) or where asked."""
    previous = keras.config.dtype_policy()
    if mixed is True or (mixed == "auto" and _on_gpu()):
        keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def _devices(devices):
    """Yields (a function of no argument giving the scope to build and
    compile in, the number of devices): JAX's data parallelism is
    set for the run (keras.distribution), TensorFlow's is a
    MirroredStrategy scope over its GPUs, else its CPUs."""
    if devices is None:
        yield contextlib.nullcontext, 1
        return
    if keras.backend.backend() == "jax":
        previous = keras.distribution.distribution()
        found = keras.distribution.list_devices()
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=found))
        try:
            yield contextlib.nullcontext, len(found)
        finally:
            keras.distribution.set_distribution(previous)
        return
    import tensorflow as tf

    found = tf.config.list_logical_devices("GPU") or \
        tf.config.list_logical_devices("CPU")
    strategy = tf.distribute.MirroredStrategy([d.name for d in found])
    yield strategy.scope, strategy.num_replicas_in_sync


def _print_settings(s, names, items, skipped, state):
    print(("resuming" if state else "training") + " with:")
    for key, value in s.items():
        print(f"  {key}: {value}")
    print(f"  classes: {len(names)} ({', '.join(names[:10])}"
          f"{', ...' if len(names) > 10 else ''})")
    print(f"  images: {len(items['train'])} train, {len(items['val'])} val"
          + (f", {len(items['test'])} test" if "test" in items else ""))
    if skipped:
        print(f"  skipped {len(skipped)} files (no image suffix, or no "
              f"image): {', '.join(os.path.basename(p) for p in skipped[:5])}"
              + (" ..." if len(skipped) > 5 else ""))
    if state:
        print(f"  from epoch {len(state['rows'])} of {s['epochs']}")
