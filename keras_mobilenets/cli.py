"""Command line: `keras-mobilenets predict IMAGE... --model NAME` and `keras-mobilenets list`."""

import argparse
import os
import sys

import keras
import numpy as np

from . import data, imagenet, registry
from .errors import DownloadError


def _list(args):
    """Reads the registry; builds no model."""
    print(f"{'model':<26} {'trainable params':>16}  ImageNet weights")
    print(f"{'':<26} {'(alpha 1, top)':>16}")
    for name, entry in registry.ENTRIES.items():
        params = f"{entry.params:,}" if entry.params else "?"
        print(f"{name:<26} {params:>16}  {entry.weights_summary()}")
    return 0


def _predict(args):
    entry = registry.get(args.model)
    images = args.images or [imagenet.SAMPLE_IMAGE]
    for path in images:
        if not os.path.isfile(path):
            raise ValueError(f"no image file at {path!r}")
    kwargs = {"weights": args.weights or "imagenet"}
    if args.alpha is not None:
        kwargs["alpha"] = args.alpha
    model = entry.builder(**kwargs)
    # The default checkpoint's eval recipe (resize, center crop).
    transform = data.eval_transform(entry.builder)
    batch = entry.preprocess(np.stack([transform(p) for p in images]))
    preds = keras.ops.convert_to_numpy(model.predict(batch, verbose=0))
    for path, top in zip(images, imagenet.decode_predictions(preds, top=args.top)):
        print(f"{path}:")
        for wnid, label, score in top:
            print(f"  {score:7.2%}  {label} ({wnid})")
    return 0


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
    predict.add_argument(
        "--model", default="MobileNetV2", choices=list(registry.ENTRIES),
        metavar="NAME", help=f"one of {', '.join(registry.ENTRIES)} "
        "(default MobileNetV2)",
    )
    predict.add_argument("--weights", metavar="PATH",
                         help="local weights file instead of the download")
    predict.add_argument("--alpha", type=float, help="width multiplier")
    predict.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        return _list(args) if args.command == "list" else _predict(args)
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
