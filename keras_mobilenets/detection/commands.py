"""The detection commands of `keras-mobilenets`: `evaluate --task detection`
(COCO box mAP of an SSDLite on a COCO-format folder) and `detect` (an
SSDLite's boxes on a photo, printed and drawn)."""

import os

import numpy as np

from . import coco
from .predict import detect
from .ssdlite import SSDLite, TORCHVISION

COCO_CLASSES = 91


def arguments():
    """The arguments `evaluate --task detection` and `detect` share, as
    `cli._commands` lists them: (flags, options) pairs."""
    return (
        (("--backbone",), {"metavar": "NAME", "default": TORCHVISION,
                           "help": "detection: the SSDLite's backbone, a "
                           f"registry name (default {TORCHVISION}, "
                           "torchvision's ssdlite320_mobilenet_v3_large)"}),
        (("--num-classes",), {"type": int, "default": COCO_CLASSES,
                              "help": "detection: classes with the "
                              "background (default 91, COCO's labels)"}),
    )


def detector(args):
    """The SSDLite of `--backbone` (at `--alpha`), `--num-classes` with
    `--weights` (a
    Keras weights file of it, or a torchvision state dict .safetensors)."""
    if args.weights is None:
        raise ValueError("Detection needs --weights FILE: the SSDLite's "
                         "weights (keras-mobilenets convert torchvision "
                         "ssdlite320_mobilenet_v3_large OUT makes COCO's).")
    alpha = getattr(args, "alpha", None)
    return SSDLite(args.backbone, num_classes=args.num_classes,
                   weights=args.weights, backbone_arguments=None
                   if alpha is None else {"alpha": alpha})


def label_name(label, num_classes=COCO_CLASSES):
    """COCO's name of a label for a 91-class model, else `class <label>`."""
    if num_classes == COCO_CLASSES:
        return coco.class_names()[label]
    return f"class {label}"


def evaluate(args):
    if args.backbone is None:
        args.backbone = TORCHVISION
    if args.num_classes is None:
        args.num_classes = COCO_CLASSES
    for flag in ("model", "preset"):
        if getattr(args, flag, None) is not None:
            raise ValueError(f"--task detection takes --backbone and "
                             f"--weights, not --{flag}.")
    model = detector(args)
    result = coco.evaluate(model, args.data, batch_size=args.batch_size,
                           verbose=True)
    print(f"SSDLite on {args.backbone} on {args.data}: box mAP "
          f"{result['AP']:.4f}, AP50 {result['AP50']:.4f}, AP75 "
          f"{result['AP75']:.4f} ({result['images']} images)")
    return 0


def draw(path, found, num_classes, output):
    """Writes the photo at `path` with the boxes of `found` drawn
    (`keras.visualization.draw_bounding_boxes`, OpenCV) to `output`."""
    import keras
    from PIL import Image

    with Image.open(path) as f:
        image = np.asarray(f.convert("RGB"))
    labels = [int(l) for l in found["labels"]]
    drawn = keras.visualization.draw_bounding_boxes(
        image[None], {"boxes": found["boxes"][None],
                      "labels": np.asarray(labels, np.int32)[None],
                      "confidences": found["scores"][None]},
        bounding_box_format="xyxy",
        class_mapping={l: label_name(l, num_classes) for l in labels},
        color=(255, 64, 0), font_scale=0.5, data_format="channels_last")
    Image.fromarray(np.asarray(drawn[0], np.uint8)).save(output)


def detect_command(args):
    if not os.path.isfile(args.image):
        raise ValueError(f"no image file at {args.image!r}")
    model = detector(args)
    found = detect(model, [args.image], batch_size=1,
                   score_threshold=args.score_threshold)[0]
    output = args.output or (
        os.path.splitext(os.path.basename(args.image))[0] + "_detections.jpg")
    print(f"{args.image}: {len(found['scores'])} boxes with score above "
          f"{args.score_threshold} (xyxy, pixels)")
    for box, score, label in zip(found["boxes"], found["scores"],
                                 found["labels"]):
        x1, y1, x2, y2 = (float(v) for v in box)
        print(f"  {label_name(int(label), args.num_classes):<16} "
              f"{float(score):.3f}  [{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}]")
    draw(args.image, found, args.num_classes, output)
    print(f"wrote {output}")
    return 0
