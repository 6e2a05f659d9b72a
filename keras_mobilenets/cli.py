"""Command line: `keras-mobilenets list`, `predict [IMAGE...] [--model NAME |
--preset PRESET]`, `evaluate --data DIR [--task detection]`, `detect IMAGE
--weights FILE` (`detection/commands.py`), `export --output FILE` (`export.py`) and
`convert timm IN OUT --model NAME` and `convert torchvision MODEL OUT
[--state-dict FILE]` (`convert.py`)."""

import argparse
import os
import sys

import keras
import numpy as np

from . import (bundled, convert, data, evaluation, export, imagenet, labels,
               presets, registry)
from .detection import commands as detection_commands
from .errors import DownloadError
from .weights import TimmCheckpoint


def _list(args):
    """Reads the registry; builds no model. `--checkpoints`: each model's
    timm checkpoints, indented under it, by the name `from_preset` and
    `--preset` take."""
    print(f"{'model':<26} {'trainable params':>16}  ImageNet weights")
    print(f"{'':<26} {'(default alpha, top)':>16}")
    for name, entry in registry.ENTRIES.items():
        params = f"{entry.params:,}" if entry.params else "?"
        print(f"{name:<26} {params:>16}  {entry.weights_summary()}")
        if args.checkpoints:
            for c in entry.checkpoints:
                if isinstance(c, TimmCheckpoint):
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


def _predict(args):
    images = args.images or [imagenet.SAMPLE_IMAGE]
    for path in images:
        if not os.path.isfile(path):
            raise ValueError(f"no image file at {path!r}")
    entry, model, transform = _model_and_transform(args)
    batch = entry.preprocess(np.stack([transform(p) for p in images]))
    preds = keras.ops.convert_to_numpy(model.predict(batch, verbose=0))
    decoded = labels.decode_predictions(preds, top=args.top, model=model)
    for path, top in zip(images, decoded):
        print(f"{path}:")
        for wnid, label, score in top:
            print(f"  {score:7.2%}  {label} ({wnid})")
    return 0


def _evaluate(args):
    if args.task == "detection":
        return detection_commands.evaluate(args)
    for flag in ("backbone", "num_classes"):
        if getattr(args, flag) is not None:
            raise ValueError(f"--{flag.replace('_', '-')} is for --task "
                             "detection.")
    entry, model, transform = _model_and_transform(args)
    result = evaluation.evaluate(model, args.data, transform, entry.preprocess,
                                 batch_size=args.batch_size)
    print(f"{args.model} on {args.data}: top-1 {result['top1']:.2%}, "
          f"top-5 {result['top5']:.2%} ({result['images']} images)")
    return 0


def _detect(args):
    return detection_commands.detect_command(args)


def _export(args):
    return export.command(
        args, lambda **kwargs: _model_and_transform(args, **kwargs)[:2])


def _convert(args):
    command, _, _ = convert.SOURCES[args.source]
    print(command(args))
    return 0


COMMANDS = {"list": _list, "predict": _predict, "evaluate": _evaluate,
            "detect": _detect, "export": _export, "convert": _convert}


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
             _arg("--top", type=int, default=5))),
        "evaluate": (
            "top-1 / top-5 accuracy on an ImageNet-layout folder (one "
            "sub-folder per class, named by its WordNet id), through the "
            "checkpoint's eval transform; --task detection: COCO box mAP "
            "of an SSDLite on a COCO-format folder (pycocotools)",
            (_arg("--data", required=True, metavar="DIR"), *model, preset,
             _arg("--batch-size", type=int, default=32),
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
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-mobilenets",
        description="MobileNets V1-V4 for Keras 3 with pretrained weights.",
    )
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
    return 1


if __name__ == "__main__":
    sys.exit(main())
