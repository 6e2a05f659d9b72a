"""Segmentation models: docs/features-segmentation.md's table (MACs at 512x512, the
MobileNetV3 paper's setting, and trainable parameters) and images/s on the
active backend.

    python benchmarks/segmentation.py                      # the table
    KERAS_BACKEND=jax python benchmarks/segmentation.py --speed --size 512
    KERAS_BACKEND=jax python benchmarks/segmentation.py --speed --output-stride 8

Random weights (`backbone_weights=None`), 21 classes (Pascal VOC),
`output_stride=16` unless `--output-stride` says otherwise; MACs from `keras_mobilenets.count_macs` (convolutions
and dense layers, the papers' convention; resizing is not counted).
"""

import argparse
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_mobilenets as km  # noqa: E402
from keras_mobilenets import segmentation  # noqa: E402

BACKBONES = ("MobileNetV3Large", "MobileNetV4ConvSmall",
             "MobileNetV4ConvMedium")
HEADS = ("LRASPP", "DeepLabV3", "DeepLabV3Plus")
CLASSES = 21


def build(head, backbone, size, output_stride=16):
    return segmentation.MODELS[head](backbone=backbone, classes=CLASSES,
                                     input_shape=(size, size, 3),
                                     backbone_weights=None,
                                     output_stride=output_stride)


def params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def row(head, backbone, size=512, output_stride=16):
    model = build(head, backbone, size, output_stride)
    return (f"| `{backbone}` | `{head}` | {km.count_macs(model) / 1e9:.2f} G "
            f"| {params(model):,} |")


def speed(head, backbone, size, batch, repeats, output_stride=16):
    """Images/s: the best of `repeats` calls after two warm-up calls."""
    model = build(head, backbone, size, output_stride)
    x = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3))
    x = x.astype("float32")
    best = float("inf")
    for i in range(repeats + 2):
        start = time.perf_counter()
        model.predict_on_batch(x)
        if i >= 2:
            best = min(best, time.perf_counter() - start)
    return batch / best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heads", nargs="+", default=HEADS)
    parser.add_argument("--backbones", nargs="+", default=BACKBONES)
    parser.add_argument("--speed", action="store_true",
                        help="images/s on the active backend, not the table")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output-stride", type=int, default=16,
                        choices=(8, 16, 32),
                        help="the backbone's output_stride (dilated below 32)")
    args = parser.parse_args(argv)
    if not args.speed:
        print(f"| backbone | head | MACs at {args.size} | parameters |")
        print("|---|---|---:|---:|")
        for backbone in args.backbones:
            for head in args.heads:
                print(row(head, backbone, args.size, args.output_stride),
                      flush=True)
        return
    print(f"Backend **{keras.backend.backend()}**, batch {args.batch}, "
          f"{args.size}x{args.size}, output_stride {args.output_stride}, "
          "images/s:")
    print("| backbone | head | images/s |")
    print("|---|---|---:|")
    for backbone in args.backbones:
        for head in args.heads:
            ips = speed(head, backbone, args.size, args.batch, args.repeats,
                        args.output_stride)
            print(f"| `{backbone}` | `{head}` | {ips:.1f} |", flush=True)
    print(f"Machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
