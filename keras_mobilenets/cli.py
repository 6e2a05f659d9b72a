"""Command line: `keras-mobilenets list`, `predict [IMAGE...] [--model NAME |
--preset PRESET]`,
`evaluate --data DIR` and `convert <source> IN OUT --model NAME`."""

import argparse
import os
import sys

import keras
import numpy as np

from . import bundled, convert, data, evaluation, imagenet, labels, presets
from . import registry
from . import export as exporting
from .errors import DownloadError


def _list(args):
    """Reads the registry; builds no model."""
    print(f"{'model':<26} {'trainable params':>16}  ImageNet weights")
    print(f"{'':<26} {'(alpha 1, top)':>16}")
    for name, entry in registry.ENTRIES.items():
        params = f"{entry.params:,}" if entry.params else "?"
        print(f"{name:<26} {params:>16}  {entry.weights_summary()}")
    return 0


def _model_and_transform(args):
    """The model the arguments name, and the eval transform of the
    checkpoint it carries (`--weights`, else the default at its alpha). No `--model`:
    MobileNet, at alpha 0.25 with the weights shipped in the package (no
    download) unless `--alpha` or `--weights` say otherwise. `--preset`:
    `from_preset`'s model, alone."""
    if getattr(args, "preset", None) is not None:
        if args.model or args.weights or args.alpha is not None:
            raise ValueError("--preset names the model, its width and its "
                             "weights: pass it without --model, --weights "
                             "and --alpha.")
        entry, alpha, weights = presets.resolve(args.preset)
        model = entry.builder(alpha=alpha, weights=weights)
        args.model = args.preset
        return entry, model, data.eval_transform(model)
    shipped = args.model is None and args.weights is None \
        and args.alpha in (None, bundled.ALPHA)
    args.model = args.model or bundled.MODEL
    entry = registry.get(args.model)
    kwargs = {"weights": args.weights or "imagenet"}
    if args.alpha is not None:
        kwargs["alpha"] = args.alpha
    if shipped:
        kwargs = {"alpha": bundled.ALPHA, "weights": bundled.weights_file()}
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
    entry, model, transform = _model_and_transform(args)
    result = evaluation.evaluate(model, args.data, transform, entry.preprocess,
                                 batch_size=args.batch_size)
    print(f"{args.model} on {args.data}: top-1 {result['top1']:.2%}, "
          f"top-5 {result['top5']:.2%} ({result['images']} images)")
    return 0


def _export(args):
    """`--model` to a LiteRT or ONNX file, checked against Keras; int8
    calibrated on part of `--calibration`, the rest held back to measure
    its agreement with the float model."""
    if args.int8 and args.format != "litert":
        raise ValueError("`--int8` quantizes LiteRT files only (TensorFlow's "
                         "LiteRT converter): pass `--format litert`. "
                         f"Received: --format {args.format} --int8")
    if args.int8 != (args.calibration is not None):
        raise ValueError("`--int8` and `--calibration DIR` go together (int8 "
                         "is calibrated on images of DIR). Received: "
                         + ("--int8 without --calibration" if args.int8
                            else f"--calibration {args.calibration} without --int8"))
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise ValueError(f"`--output` must be in an existing folder. "
                         f"Received: --output {args.output}")
    if args.int8:
        calibration, held = exporting.calibration_images(args.calibration)
    exporting.require_tensorflow()
    entry = registry.get(args.model)
    weights = None if args.weights == "none" else args.weights or "imagenet"
    kwargs = {"weights": weights}
    if args.alpha is not None:
        kwargs["alpha"] = args.alpha
    if args.size is not None:
        kwargs["input_shape"] = (args.size, args.size, 3)
    model = entry.builder(**kwargs)
    config = data.data_config(model)  # its checkpoint's recipe
    size = args.size or config["input_size"][1]
    transform = data.EvalTransform({**config, "input_size": (3, size, size)})

    def inputs(paths):
        return entry.preprocess(np.stack([transform(p) for p in paths]))

    # A few inputs: int8 the held-back images; float the sample photo and
    # random images.
    if args.int8:
        x, what = inputs(held), f"{len(held)} held-back images"
    else:
        random = np.random.default_rng(0).uniform(0, 255, (3, size, size, 3))
        x = np.concatenate([inputs([imagenet.SAMPLE_IMAGE]),
                            entry.preprocess(random.astype("float32"))])
        what = f"{len(x)} inputs (the sample photo, {len(random)} random images)"
    # Also what the exporters need: a model that was called.
    want = keras.ops.convert_to_numpy(model(x, training=False))
    if args.format == "onnx":
        exporting.export_onnx(model, args.output)
    else:
        exporting.export_litert(
            model, args.output, inputs(calibration) if args.int8 else None)
    kind = {"onnx": "ONNX", "litert": "LiteRT int8" if args.int8
            else "LiteRT float32"}[args.format]
    nbytes = os.path.getsize(args.output)
    print(f"wrote {args.output}: {kind}, {nbytes:,} bytes "
          f"({nbytes / 1e6:.2f} MB)")
    got = exporting.run_file(args.output, x, args.format)
    diff, scale, relative = exporting.max_difference(got, want)
    print(f"max abs diff vs Keras: {diff:.2e} on {what}; outputs up to "
          f"{scale:.2e}; relative {relative:.2e}")
    if args.int8:
        top1, top5 = exporting.agreement(got, want)
        print(f"calibrated on {len(calibration)} images of "
              f"{args.calibration}; {len(held)} held back (every "
              f"{exporting.HOLD_BACK_EVERY}th by path, from the first)")
        print(f"int8 agreement with the float Keras model on {len(held)} "
              f"held-back images: top-1 {top1:.1%} "
              f"({round(top1 * len(held))}/{len(held)}), top-5 {top5:.1%} "
              f"({round(top5 * len(held))}/{len(held)}; the float top-1 "
              "among int8's five best)")
        ties = exporting.tied(got)
        if ties:
            print(f"note: the int8 top class is a tie on {ties} of "
                  f"{len(held)} images (initial weights?): the agreement "
                  "says nothing there")
    return 0


def _convert(args):
    convert_, _, _ = convert.SOURCES[args.source]
    print(convert_(args.input, args.output, args.model))
    return 0


COMMANDS = {"list": _list, "predict": _predict, "evaluate": _evaluate,
            "export": _export, "convert": _convert}


def _model_arguments(parser):
    parser.add_argument(
        "--model", choices=list(registry.ENTRIES), metavar="NAME",
        help=f"one of {', '.join(registry.ENTRIES)}; without it, MobileNet "
        "alpha 0.25 with the ImageNet weights shipped in the package (no "
        "download)",
    )
    parser.add_argument(
        "--weights", metavar="WEIGHTS",
        help="a local weights file, a checkpoint tag or hf-hub:<repo_id> "
        "instead of the default download")
    parser.add_argument("--alpha", type=float, help="width multiplier")


def _preset_argument(parser):
    parser.add_argument(
        "--preset", metavar="PRESET", help="instead of --model, --weights "
        "and --alpha: a timm checkpoint as keras_mobilenets.from_preset "
        "takes it (mobilenetv2_120d.ra_in1k, hf://timm/..., hf-hub:timm/... "
        "or a folder with config.json and model.safetensors)")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-mobilenets",
        description="MobileNets V1-V4 for Keras 3 with pretrained weights.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every model with its parameter count")
    predict = sub.add_parser(
        "predict", help="top-5 ImageNet classes of images (default: a sample cat)"
    )
    predict.add_argument("images", nargs="*", metavar="IMAGE")
    _model_arguments(predict)
    _preset_argument(predict)
    predict.add_argument("--top", type=int, default=5)
    evaluate = sub.add_parser(
        "evaluate", help="top-1 / top-5 accuracy on an ImageNet-layout folder "
        "(one sub-folder per class, named by its WordNet id), through the "
        "checkpoint's eval transform")
    evaluate.add_argument("--data", required=True, metavar="DIR")
    _model_arguments(evaluate)
    _preset_argument(evaluate)
    evaluate.add_argument("--batch-size", type=int, default=32)
    export = sub.add_parser(
        "export", help="a LiteRT (float32 or int8) or ONNX file of a model, "
        "checked against Keras (under KERAS_BACKEND=tensorflow; "
        "--weights none: initial weights)")
    _model_arguments(export)
    export.add_argument("--format", choices=("litert", "onnx"),
                        default="litert", help="default litert")
    export.add_argument("--output", required=True, metavar="FILE")
    export.add_argument("--size", type=int, help="input rows and columns "
                        "(default: the checkpoint's)")
    export.add_argument("--int8", action="store_true",
                        help="LiteRT int8 post-training quantization")
    export.add_argument("--calibration", metavar="DIR", help="--int8: images "
                        "through the checkpoint's eval transform; every 5th "
                        "(by path, from the first) held back to measure the "
                        "agreement with the float model")

    conversion = sub.add_parser(
        "convert", help="convert a checkpoint into a Keras weights file that "
        "weights=<path> loads").add_subparsers(dest="source", required=True)
    for source, (_, models, what) in convert.SOURCES.items():
        one = conversion.add_parser(source, help=f"convert {what}")
        one.add_argument("input", help=what)
        one.add_argument("output", help="Keras weights file to write: "
                         ".weights.h5 (Keras 3 layout) or .h5 (by layer name)")
        one.add_argument("--model", required=True, choices=models(),
                         help="architecture of the checkpoint")
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
