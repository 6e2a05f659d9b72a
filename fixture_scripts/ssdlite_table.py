"""The table of SSDLite sizes in docs/detection.md: trainable parameters and
multiply-accumulates (`keras_mobilenets.count_macs`) at 320x320 and 91 classes
(COCO's, as torchvision) for each backbone, torchvision's published row beside.

    python fixture_scripts/ssdlite_table.py          # prints the table
    python fixture_scripts/ssdlite_table.py --write  # and puts it in the page

Runs with the package alone, on any backend (the figures do not depend on
it); tests/test_detection_docs.py runs it and checks the page holds its table.
"""

import argparse
import os
import sys

import numpy as np

import keras_mobilenets as km
from keras_mobilenets.detection import SSDLite

PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "docs", "detection.md")
BEGIN, END = "<!-- ssdlite-table:begin -->", "<!-- ssdlite-table:end -->"
SIZE, CLASSES = 320, 91
# (backbone, what the row says of it)
BACKBONES = (
    ("MobileNetV2", ""),
    ("MobileNetV3Large", "keras.applications' layout"),
    ("TorchvisionMobileNetV3Large", "torchvision's layout, reduced tail: "
                                    "torchvision's network"),
    ("MobileNetV4ConvSmall", ""),
    ("MobileNetV4ConvMedium", ""),
)
# torchvision 0.29's documentation of ssdlite320_mobilenet_v3_large
# (COCO_V1 weights): params 3,440,060, GFLOPS 0.58, box mAP 21.3.
# Its "GFLOPS" count multiply-accumulates, as count_macs does (0.58 for the
# same network, the TorchvisionMobileNetV3Large row).
TORCHVISION = ("torchvision's `ssdlite320_mobilenet_v3_large` (its docs)",
               3_440_060, 0.58)


def rows():
    """(backbone, note, trainable parameters, MACs) of each SSDLite."""
    out = []
    for backbone, note in BACKBONES:
        model = SSDLite(backbone, num_classes=CLASSES,
                        input_shape=(SIZE, SIZE, 3))
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        out.append((backbone, note, trainable, km.count_macs(model)))
    return out


def table():
    lines = ["| SSDLite on | trainable parameters | GMACs |",
             "|---|---:|---:|"]
    for backbone, note, trainable, macs in rows():
        name = f"`{backbone}`" + (f" ({note})" if note else "")
        lines.append(f"| {name} | {trainable:,} | {macs / 1e9:.2f} |")
    name, trainable, gmacs = TORCHVISION
    lines.append(f"| {name} | {trainable:,} | {gmacs:.2f} |")
    return "\n".join(lines)


def write(text, path=PAGE):
    with open(path, encoding="utf8") as f:
        page = f.read()
    if page.count(BEGIN) != 1 or page.count(END) != 1:
        sys.exit(f"{path} must hold {BEGIN} and {END} once each.")
    head, rest = page.split(BEGIN)
    tail = rest.split(END)[1]
    with open(path, "w", encoding="utf8") as f:
        f.write(f"{head}{BEGIN}\n{text}\n{END}{tail}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help=f"put the table between the markers of {PAGE}")
    args = parser.parse_args()
    text = table()
    print(text)
    if args.write:
        write(text)
