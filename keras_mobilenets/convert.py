"""Maintainer command line: convert a timm MobileNetV4 checkpoint
(.safetensors) into a Keras weights file that `weights=<path>` loads.

    python -m keras_mobilenets.convert IN.safetensors OUT.weights.h5 --model mobilenetv4_conv_small

OUT.weights.h5 is in Keras 3's own layout (`model.load_weights` reads it);
any other OUT.h5 is in the by-layer-name layout of the official Keras files,
from which a model without the top can load its part. The conversion itself
is `weights/timm.py`.
"""

import argparse
import os
import sys

from . import registry
from .weights import h5, timm


def main(argv=None):
    names = registry.timm_names()
    parser = argparse.ArgumentParser(
        prog="python -m keras_mobilenets.convert",
        description="Convert a timm MobileNetV4 checkpoint (.safetensors) to "
        "a Keras weights file (HDF5, by layer name) that "
        "`weights=<path>` loads.",
    )
    parser.add_argument("input", help="timm checkpoint, .safetensors")
    parser.add_argument(
        "output", help="Keras weights file to write: .weights.h5 (Keras 3 "
        "layout) or .h5 (by layer name)",
    )
    parser.add_argument(
        "--model", required=True, choices=sorted(names),
        help="timm architecture of the checkpoint",
    )
    args = parser.parse_args(argv)
    state_dict = timm.read_safetensors(args.input)
    include_top = "classifier.weight" in state_dict
    classes = state_dict["classifier.weight"].shape[0] if include_top else 1000
    entry, alpha = names[args.model]
    model = entry.builder(alpha=alpha, include_top=include_top,
                          classes=classes, weights=None)
    arrays = timm.convert_state_dict(model, state_dict,
                                     source=os.path.basename(args.input))
    h5.assign_strict(model, arrays, os.path.basename(args.input))
    if args.output.endswith(".weights.h5"):
        model.save_weights(args.output)  # Keras 3's own layout
    else:
        h5.save_weights_file(model, args.output)
    top = f"the {classes}-class top" if include_top else "no top"
    print(f"{args.input} -> {args.output} ({args.model}: {model.name}, "
          f"alpha={alpha}, {top})")


if __name__ == "__main__":
    sys.exit(main())
