"""Command line: `keras-mobilenets list`, `predict [IMAGE...] [--model NAME |
--preset PRESET | --model-file FILE]`, `evaluate --data DIR [--task
detection]`, `train DATA` (`training/`), `detect IMAGE
--weights FILE` (`detection/commands.py`), `export --output FILE` (`export.py`) and
`convert timm IN OUT --model NAME` and `convert torchvision MODEL OUT
[--state-dict FILE]` (`convert.py`)."""

import argparse
import os
import sys

import keras
import numpy as np

from . import (bundled, convert, data, evaluation, export, imagenet, labels,
               presets, registry, renderers, training)
from .detection import commands as detection_commands
from .errors import DownloadError
from .model import Model
from .quantization import export as qat_export
from .weights import TimmCheckpoint


def _list(args):
    """Reads the registry; builds no model. `--checkpoints`: each model's
    timm checkpoints, indented under it, by the name `from_preset` and
    `--preset` take, under the model they build (a checkpoint two models
    load, Gemma 3n's, once: under MobileNetV5_300M)."""
    print(f"{'model':<26} {'trainable params':>16}  ImageNet weights")
    print(f"{'':<26} {'(default alpha, top)':>16}")
    builds = registry.timm_names()
    for name, entry in registry.ENTRIES.items():
        params = f"{entry.params:,}" if entry.params else "?"
        print(f"{name:<26} {params:>16}  {renderers.weights_summary(entry)}")
        if args.checkpoints:
            for c in entry.checkpoints:
                if isinstance(c, TimmCheckpoint) \
                        and builds[c.model][0] is entry:
                    print("  " + _checkpoint_line(c))
    return 0


def _checkpoint_line(c):
    """`<timm architecture>.<tag>`, then alpha, size, classes and timm's
    top-1 where it publishes one."""
    top1 = "" if c.top1 is None else f", top-1 {c.top1:.2f}"
    return (f"{c.model + '.' + c.tag:<50} alpha {c.alpha}, {c.input_size}px, "
            f"{c.num_classes} classes{top1}")


def _model_and_transform(args, **kwargs):
    """The model the arguments name (built with the builder arguments
    `kwargs` too), and the eval transform of the checkpoint it carries
    (`--weights`, else the default at its alpha; `--weights none`: initial
    weights). No `--model`: MobileNet, at alpha 0.25 with the weights
    shipped in the package (no download) unless `--alpha` or `--weights`
    say otherwise. `--preset`: `from_preset`'s model, alone."""
    if getattr(args, "preset", None) is not None:
        if args.model or args.weights or args.alpha is not None:
            raise ValueError("--preset names the model, its width and its "
                             "weights: pass it without --model, --weights "
                             "and --alpha.")
        entry, alpha, weights = presets.resolve(args.preset)
        model = entry.builder(alpha=alpha, weights=weights, **kwargs)
        args.model = args.preset
        return entry, model, data.eval_transform(model)
    shipped = args.model is None and args.weights is None \
        and args.alpha in (None, bundled.ALPHA)
    args.model = args.model or bundled.MODEL
    entry = registry.get(args.model)
    kwargs["weights"] = None if args.weights == "none" \
        else args.weights or "imagenet"
    if args.alpha is not None:
        kwargs["alpha"] = args.alpha
    if shipped:
        kwargs.update(alpha=bundled.ALPHA, weights=bundled.weights_file())
    model = entry.builder(**kwargs)
    return entry, model, data.eval_transform(model)  # its checkpoint's recipe


def _trained_model(args):
    """The model of `--model-file` (a `.keras` file `train` wrote: pixels in
    [0, 255], its class names and data config inside) and its eval
    transform."""
    given = [f"--{f}" for f in ("model", "preset", "weights", "alpha")
             if getattr(args, f, None) is not None]
    if given:
        raise ValueError("--model-file is a whole model: pass it without "
                         f"{', '.join(given)}.")
    if not os.path.isfile(args.model_file):
        raise ValueError(f"No model file at {args.model_file!r}. Received: "
                         f"--model-file {args.model_file}")
    model = keras.saving.load_model(args.model_file)
    if not isinstance(model, Model) or model.class_names is None \
            or model.data_config is None:
        raise ValueError(
            f"{args.model_file} carries no class names and data config (a "
            "model `keras-mobilenets train` wrote does). Received: "
            f"--model-file {args.model_file}")
    args.model = args.model_file
    return model, data.EvalTransform(model.data_config)


def _predict(args):
    images = args.images or [imagenet.SAMPLE_IMAGE]
    for path in images:
        if not os.path.isfile(path):
            raise ValueError(f"no image file at {path!r}")
    if args.model_file:
        model, transform = _trained_model(args)
        batch = np.stack([transform(p) for p in images])
        top = min(args.top, len(model.class_names))
    else:
        entry, model, transform = _model_and_transform(args)
        batch = entry.preprocess(np.stack([transform(p) for p in images]))
        top = args.top
    preds = keras.ops.convert_to_numpy(model.predict(batch, verbose=0))
    decoded = labels.decode_predictions(preds, top=top, model=model)
    for path, best in zip(images, decoded):
        print(f"{path}:")
        for wnid, label, score in best:
            print(f"  {score:7.2%}  {label}"
                  + ("" if wnid == label else f" ({wnid})"))
    return 0


def _evaluate(args):
    if args.task == "detection":
        return detection_commands.evaluate(args)
    for flag in ("backbone", "num_classes"):
        if getattr(args, flag) is not None:
            raise ValueError(f"--{flag.replace('_', '-')} is for --task "
                             "detection.")
    if args.model_file:
        model, transform = _trained_model(args)
        result = evaluation.evaluate_classes(
            model, args.data, transform, batch_size=args.batch_size)
    else:
        entry, model, transform = _model_and_transform(args)
        result = evaluation.evaluate(model, args.data, transform,
                                     entry.preprocess,
                                     batch_size=args.batch_size)
    print(f"{args.model} on {args.data}: top-1 {result['top1']:.2%}, "
          f"top-5 {result['top5']:.2%} ({result['images']} images)")
    return 0


def _detect(args):
    return detection_commands.detect_command(args)


def _export(args):
    if args.model_file is not None:  # a QAT model's int8 file
        return qat_export.command(args)
    return export.command(
        args, lambda **kwargs: _model_and_transform(args, **kwargs)[:2])


def _train(args):
    if args.qat and args.int8:
        raise ValueError("--int8 and --qat are two ways to int8: pass one.")
    switch = {"auto": "auto", "on": True, "off": False}
    training.train(
        args.data, model=args.model, preset=args.preset, weights=args.weights,
        alpha=args.alpha, size=args.size, epochs=args.epochs,
        batch_size=args.batch_size, output=args.output, export=args.export,
        int8=args.int8, qat=args.qat, qat_epochs=args.qat_epochs,
        resume=args.resume,
        overwrite=args.overwrite, devices=args.devices,
        validation_split=args.validation_split,
        frozen_epochs=args.frozen_epochs, learning_rate=args.learning_rate,
        fine_tune_factor=args.fine_tune_factor,
        warmup_epochs=args.warmup_epochs, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, dropout=args.dropout,
        drop_path_rate=args.drop_path_rate, patience=args.patience,
        mixed_precision=switch[args.mixed_precision],
        cache=switch[args.cache], seed=args.seed,
        job_addresses=args.job_addresses, num_processes=args.num_processes,
        process_id=args.process_id)
    return 0


def _convert(args):
    command, _, _ = convert.SOURCES[args.source]
    print(command(args))
    return 0


COMMANDS = {"list": _list, "predict": _predict, "evaluate": _evaluate,
            "detect": _detect, "export": _export, "train": _train,
            "convert": _convert}


def _arg(*flags, **options):
    """One argument of a command: the flags and options of `add_argument`."""
    return flags, options


def _commands():
    """{command: (help, arguments)}, in the order `--help` lists them."""
    model = (
        _arg("--model", choices=list(registry.ENTRIES), metavar="NAME",
             help=f"one of {', '.join(registry.ENTRIES)}; without it, "
             "MobileNet alpha 0.25 with the ImageNet weights shipped in the "
             "package (no download)"),
        _arg("--weights", metavar="WEIGHTS",
             help="a local weights file, a checkpoint tag or hf-hub:<repo_id> "
             "instead of the default download; none: initial weights"),
        _arg("--alpha", type=float, help="width multiplier"),
    )
    preset = _arg(
        "--preset", metavar="PRESET", help="instead of --model, --weights "
        "and --alpha: a timm checkpoint as keras_mobilenets.from_preset "
        "takes it (mobilenetv2_120d.ra_in1k, hf://timm/..., hf-hub:timm/... "
        "or a folder with config.json and model.safetensors)")

    model_file = _arg(
        "--model-file", metavar="FILE", help="instead of --model or "
        "--preset: a .keras file `keras-mobilenets train` wrote (its class "
        "names and data config inside)")

    def detection_args(**override):
        return tuple((flags, {**options, **override})
                     for flags, options in detection_commands.arguments())

    return {
        "list": ("every model with its parameter count", (
            _arg("--checkpoints", action="store_true", help="also every timm "
                 "checkpoint, under its model, by the name from_preset and "
                 "--preset take (<timm architecture>.<tag>)"),)),
        "predict": (
            "top-5 ImageNet classes of images (default: a sample cat)",
            (_arg("images", nargs="*", metavar="IMAGE"), *model, preset,
             model_file, _arg("--top", type=int, default=5))),
        "evaluate": (
            "top-1 / top-5 accuracy on an ImageNet-layout folder (one "
            "sub-folder per class, named by its WordNet id), through the "
            "checkpoint's eval transform; --task detection: COCO box mAP "
            "of an SSDLite on a COCO-format folder (pycocotools)",
            (_arg("--data", required=True, metavar="DIR"), *model, preset,
             model_file, _arg("--batch-size", type=int, default=32),
             _arg("--task", choices=("classification", "detection"),
                  default="classification"),
             *detection_args(default=None))),
        "detect": (
            "the boxes an SSDLite finds on a photo, printed and drawn "
            "(keras.visualization.draw_bounding_boxes) into --output",
            (_arg("image", metavar="IMAGE"),
             _arg("--weights", required=True, metavar="FILE",
                  help="the SSDLite's weights: a Keras weights file or a "
                  "torchvision state dict (.safetensors)"),
             *detection_args(),
             _arg("--alpha", type=float, help="width multiplier of the "
                  "backbone"),
             _arg("--output", metavar="FILE", help="default: "
                  "<IMAGE name>_detections.jpg in the current folder"),
             _arg("--score-threshold", type=float, default=0.5,
                  help="default 0.5"))),
        "export": (
            "a LiteRT (float32 or int8) or ONNX file of a model, checked "
            "against Keras (under KERAS_BACKEND=tensorflow; --weights none: "
            "initial weights)",
            (*model, preset,
             _arg("--format", choices=export.FORMATS, default="litert",
                  help="default litert"),
             _arg("--output", required=True, metavar="FILE"),
             _arg("--size", type=int, help="input rows and columns "
                  "(default: the checkpoint's)"),
             _arg("--int8", action="store_true",
                  help="LiteRT int8 post-training quantization"),
             _arg("--model-file", metavar="FILE", help="instead of --model: "
                  "a QAT model's .keras file (keras_mobilenets.quantization), "
                  "with --int8: int8 from its learned ranges, no "
                  "--calibration"),
             _arg("--calibration", metavar="DIR", help="--int8: images "
                  "through the checkpoint's eval transform; every 5th (by "
                  "path, from the first) held back to measure the agreement "
                  "with the float model"))),
        "train": (
            "fine-tune a model on a folder of class folders (or train/ and "
            "val/ holding them): DIR gets model.keras, labels.txt, "
            "history.csv, report.md and figures (docs/fine-tuning.md)",
            (_arg("data", metavar="DATA"), *model, preset, *_train_args())),
    }


def _train_args():
    """`train`'s own flags; the recipe's defaults are `training.train`'s."""
    def recipe(flag, kind, default, text):
        return _arg(flag, type=kind, default=default,
                    help=f"{text} (default {default})")

    switch = ("auto", "on", "off")
    return (
        _arg("--size", type=int, help="input rows and columns (default: "
             "the checkpoint's)"),
        recipe("--epochs", int, 10, "epochs in all"),
        recipe("--batch-size", int, 32, "images per step, over all devices"),
        _arg("--output", metavar="DIR", default="trained",
             help="the folder it writes (default trained)"),
        _arg("--export", choices=("litert", "onnx"), help="also "
             "DIR/model.tflite or DIR/model.onnx, checked against Keras"),
        _arg("--int8", action="store_true", help="--export litert: int8, "
             "calibrated on training images"),
        _arg("--qat", action="store_true", help="--export litert: "
             "quantization-aware fine-tuning as the last stage"),
        recipe("--qat-epochs", int, 2, "--qat: epochs of quantization-"
               "aware training after the float stages"),
        _arg("--resume", action="store_true", help="continue the "
             "interrupted run in DIR"),
        _arg("--overwrite", action="store_true", help="replace the run in "
             "DIR"),
        _arg("--devices", choices=("all",), help="data parallel over every "
             "local device (JAX, TensorFlow)"),
        _arg("--job-addresses", metavar="HOST:PORT[,...]", help="a job of "
             "several processes (JAX): process 0's address, where they meet "
             "(default $KERAS_DISTRIBUTION_JOB_ADDRESSES)"),
        _arg("--num-processes", type=int, metavar="N", help="the job's "
             "processes, data parallel over all their devices; process 0 "
             "writes DIR (default $KERAS_DISTRIBUTION_NUM_PROCESSES, else 1)"),
        _arg("--process-id", type=int, metavar="I", help="this process's "
             "index in the job, 0 to N-1 (default "
             "$KERAS_DISTRIBUTION_PROCESS_ID)"),
        recipe("--validation-split", float, 0.1, "without val/: the share "
               "of each class held out"),
        _arg("--frozen-epochs", type=int, help="epochs with the backbone "
             "frozen (default a fifth of --epochs, at least 1; from initial "
             "weights 0)"),
        recipe("--learning-rate", float, 1e-3, "AdamW's peak rate"),
        _arg("--fine-tune-factor", type=float, help="the unfrozen stage's "
             "rate, a fraction of --learning-rate (default 0.1; from initial "
             "weights 1)"),
        recipe("--warmup-epochs", float, 1, "linear warm-up of each stage"),
        recipe("--weight-decay", float, 0.05, "AdamW's"),
        recipe("--label-smoothing", float, 0.1, "of the cross-entropy"),
        recipe("--dropout", float, 0.2, "before the new top"),
        recipe("--drop-path-rate", float, 0.1, "stochastic depth, where the "
               "model has it (V2-V4)"),
        recipe("--patience", int, 5, "unfrozen epochs without a better "
               "validation accuracy before an early stop"),
        _arg("--mixed-precision", choices=switch, default="auto",
             help="mixed_float16 (default auto: on a GPU)"),
        _arg("--cache", choices=switch, default="auto", help="decoded "
             "images kept in memory (default auto: files under 256 MB)"),
        recipe("--seed", int, 0, "of the split, the shuffle and the "
               "augmentation"),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-mobilenets",
        description="MobileNets V1-V4 for Keras 3 with pretrained weights.",
    )
    parser.add_argument("--verbose", action="store_true", help="keep "
                        "TensorFlow's start-up messages (also "
                        "KERAS_MOBILENETS_VERBOSE=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help, arguments) in _commands().items():
        command = sub.add_parser(name, help=help)
        for flags, options in arguments:
            command.add_argument(*flags, **options)

    conversion = sub.add_parser(
        "convert", help="convert a checkpoint into a Keras weights file that "
        "weights=<path> loads").add_subparsers(dest="source", required=True)
    for source, (_, add_arguments, what) in convert.SOURCES.items():
        add_arguments(conversion.add_parser(source, help=f"convert {what}"))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DownloadError as e:
        print(
            f"keras-mobilenets: error: cannot download the {args.model} "
            f"weights from {e.url} (no network?): pass --weights PATH to use "
            "a local file.",
            file=sys.stderr,
        )
    except (ValueError, TypeError, OSError) as e:
        print(f"keras-mobilenets: error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
