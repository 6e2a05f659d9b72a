"""Segmentation models: docs/features-segmentation.md's tables (MACs at 512x512, the
MobileNetV3 paper's setting, and trainable parameters; images/s on the
active backend beside torchvision's).

    python benchmarks/segmentation.py                      # the MACs table
    KERAS_BACKEND=jax python benchmarks/segmentation.py --speed --size 512
    KERAS_BACKEND=jax python benchmarks/segmentation.py --speed --output-stride 8
    KERAS_BACKEND=torch python benchmarks/segmentation.py --speed \
        --reference ../timm-venv/bin/python

Random weights (`backbone_weights=None`), 21 classes (Pascal VOC),
`output_stride=16` unless `--output-stride` says otherwise; MACs from `keras_mobilenets.count_macs` (convolutions
and dense layers, the papers' convention; resizing is not counted).

--speed: images/s at --batch, the best of --repeats `predict_on_batch` calls
after two warm-up calls. Where torchvision has the model (LR-ASPP and
DeepLabV3 on MobileNetV3Large, both at output stride 16), it is timed right
after ours in its own process (`segmentation_reference.py`) by --reference,
else $TIMM_PYTHON, else this Python, the first that imports torchvision;
other rows, or none of them importing it, give "-".
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_mobilenets as km  # noqa: E402
import run  # noqa: E402  (benchmarks/run.py: machine line, ratios)
from keras_mobilenets import segmentation  # noqa: E402

BACKBONES = ("MobileNetV3Large", "MobileNetV4ConvSmall",
             "MobileNetV4ConvMedium")
HEADS = ("LRASPP", "DeepLabV3", "DeepLabV3Plus")
CLASSES = 21
# torchvision's builders of the same networks; both dilate the last stage of
# MobileNetV3Large (`mobilenet_v3_large(dilated=True)`): output stride 16.
REFERENCE = {("MobileNetV3Large", "LRASPP"): "lraspp_mobilenet_v3_large",
             ("MobileNetV3Large", "DeepLabV3"): "deeplabv3_mobilenet_v3_large"}
REFERENCE_STRIDE = 16


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
    """(images/s, trainable parameters): the best of `repeats` calls after
    two warm-up calls."""
    model = build(head, backbone, size, output_stride)
    x = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3))
    x = x.astype("float32")
    best = float("inf")
    for i in range(repeats + 2):
        start = time.perf_counter()
        model.predict_on_batch(x)
        if i >= 2:
            best = min(best, time.perf_counter() - start)
    return batch / best, params(model)


def reference_python(explicit):
    """A Python that can import torchvision: `explicit` (an error if it
    cannot), else $TIMM_PYTHON, else this one; None if neither can."""
    for python in (explicit, os.environ.get("TIMM_PYTHON"), sys.executable):
        if python and subprocess.run(
                [python, "-c", "import torchvision"],
                capture_output=True).returncode == 0:
            return python
        if python and python == explicit:
            raise SystemExit(f"--reference {explicit} cannot import "
                             "torchvision")
    return None


def reference_speed(python, name, size, batch, repeats):
    """torchvision's figures ({"images_per_s", "memory_format",
    "parameters", "versions", ...}) from its worker run by `python`."""
    command = [python, os.path.join(HERE, "segmentation_reference.py"),
               "--model", name, "--classes", str(CLASSES), "--size",
               str(size), "--batch", str(batch), "--repeats", str(repeats)]
    return run.run_worker(command, f"torchvision's {name}")


def speed_table(rows, backend, args, command, machine_line):
    """The Markdown speed table. rows: (backbone, head, our images/s,
    torchvision's figures or None)."""
    out = [f"Backend **{backend}**, batch {args.batch}, {args.size}x"
           f"{args.size}, {CLASSES} classes, random weights; images/s: best "
           f"of {args.repeats} calls after two warm-up calls; torchvision in "
           "its own process right after ours, in the faster of its two "
           "memory formats. `" + command + "`",
           "",
           "| backbone | head | output stride | ours img/s "
           "| torchvision img/s | ours / torchvision |",
           "|---|---|--:|--:|--:|--:|"]
    for backbone, head, ours, ref in rows:
        theirs = ref["images_per_s"] if ref else None
        out.append(f"| `{backbone}` | `{head}` | {args.output_stride} "
                   f"| {ours:.2f} | {f'{theirs:.2f}' if theirs else '-'} "
                   f"| {run.ratio(ours, theirs)} |")
    return "\n".join(out + ["", machine_line])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heads", nargs="+", default=HEADS)
    parser.add_argument("--backbones", nargs="+", default=BACKBONES)
    parser.add_argument("--speed", action="store_true",
                        help="images/s on the active backend beside "
                        "torchvision's, not the MACs table")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output-stride", type=int, default=16,
                        choices=(8, 16, 32),
                        help="the backbone's output_stride (dilated below 32)")
    parser.add_argument("--reference", metavar="PYTHON",
                        help="--speed: a Python with torch and torchvision "
                        "(else $TIMM_PYTHON, else this one)")
    args = parser.parse_args(argv)
    if not args.speed:
        print(f"| backbone | head | MACs at {args.size} | parameters |")
        print("|---|---|---:|---:|")
        for backbone in args.backbones:
            for head in args.heads:
                print(row(head, backbone, args.size, args.output_stride),
                      flush=True)
        return
    python = reference_python(args.reference)
    rows, versions = [], set()
    for backbone in args.backbones:
        for head in args.heads:
            ours, count = speed(head, backbone, args.size, args.batch,
                                args.repeats, args.output_stride)
            name = REFERENCE.get((backbone, head))
            ref = None
            if python and name and args.output_stride == REFERENCE_STRIDE:
                ref = reference_speed(python, name, args.size, args.batch,
                                      args.repeats)
                versions.add(ref["versions"])
                if ref["parameters"] != count:  # not the same network
                    raise SystemExit(f"{backbone} {head}: {count:,} "
                                     f"parameters, torchvision's {name} "
                                     f"{ref['parameters']:,}")
            print(json.dumps({"backbone": backbone, "head": head,
                              "images_per_s": ours, "torchvision": ref}),
                  file=sys.stderr, flush=True)
            rows.append((backbone, head, ours, ref))
    backend = keras.backend.backend()
    command = " ".join([f"KERAS_BACKEND={backend} python "
                        "benchmarks/segmentation.py",
                        *(sys.argv[1:] if argv is None else argv)])
    line = run.machine_line({}) + "".join(
        f" torchvision side: {v}." for v in sorted(versions))
    if not python:
        line += " No Python here imports torchvision (--reference PYTHON)."
    print(speed_table(rows, backend, args, command, line))


if __name__ == "__main__":
    main()
