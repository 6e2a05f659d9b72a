"""Build keras_mobilenets/data/coco_classes.txt from torchvision's weights meta.

Maintainer tool, run once in an environment where torchvision is installed
(the timm virtual environment has it):

    ../timm-venv/bin/python fixture_scripts/make_coco_classes.py

The 91 labels of torchvision's COCO detectors, one name a line, line i for
label i: `SSDLite320_MobileNet_V3_Large_Weights.COCO_V1.meta["categories"]`,
'__background__' at 0 and 'N/A' for the ids COCO leaves unused (label i is
COCO's category id i). Read from the meta only: no weights are downloaded.
Prints the file's MD5.
"""

import hashlib
import os

from torchvision.models.detection import SSDLite320_MobileNet_V3_Large_Weights

OUT = os.path.join(os.path.dirname(__file__), "..", "keras_mobilenets",
                   "data", "coco_classes.txt")
CLASSES = 91


def main():
    names = SSDLite320_MobileNet_V3_Large_Weights.COCO_V1.meta["categories"]
    if len(names) != CLASSES or names[0] != "__background__":
        raise SystemExit(f"expected {CLASSES} names from '__background__', "
                         f"found {len(names)} from {names[:1]}")
    data = "".join(f"{name}\n" for name in names).encode("utf8")
    with open(OUT, "wb") as f:
        f.write(data)
    print(f"wrote {os.path.normpath(OUT)}: {len(names)} classes, "
          f"{len(data)} bytes, md5 {hashlib.md5(data).hexdigest()}")


if __name__ == "__main__":
    main()
