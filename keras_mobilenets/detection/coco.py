"""COCO box mAP of an SSD model through pycocotools (`pip install
keras-mobilenets[detection]`) on a COCO-format folder, and the names of the
91 labels of torchvision's COCO detectors."""

import contextlib
import functools
import glob
import io
import os

import numpy as np

from .. import arguments
from .predict import detect

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
# COCOeval.stats, in the order of its summary.
STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl",
         "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


@functools.lru_cache(maxsize=1)
def class_names():
    """The 91 names of torchvision's COCO labels, label i at index i (the
    COCO category id): '__background__' at 0, 'N/A' for ids COCO leaves
    unused (see fixture_scripts/make_coco_classes.py)."""
    with open(os.path.join(DATA_DIR, "coco_classes.txt"),
              encoding="utf8") as f:
        return tuple(line.rstrip("\n") for line in f)


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError(
            "COCO evaluation needs pycocotools: pip install "
            "keras-mobilenets[detection] (or pycocotools).") from None
    return COCO, COCOeval


def find_annotations(folder):
    """(annotation file, image folder) of a COCO-format folder: the one
    `.json` file in it or in its `annotations/`; images where the
    annotations' `file_name`s are, relative to the folder, its `images/`
    or a folder named as the split (`instances_val2017.json`: `val2017/`)."""
    if not os.path.isdir(folder):
        raise ValueError(f"`data` must be a COCO-format folder (annotations "
                         f".json and images). Received: data={folder!r}")
    found = sorted(glob.glob(os.path.join(folder, "*.json"))) or sorted(
        glob.glob(os.path.join(folder, "annotations", "*.json")))
    if len(found) != 1:
        raise ValueError(
            f"{folder!r} must hold one COCO annotations .json (in it or in "
            f"annotations/). Received: {[os.path.relpath(f, folder) for f in found]}")
    stem = os.path.splitext(os.path.basename(found[0]))[0]
    roots = [folder, os.path.join(folder, "images"),
             os.path.join(folder, stem.split("_")[-1])]
    return found[0], roots


def _image_path(roots, file_name):
    for root in roots:
        path = os.path.join(root, file_name)
        if os.path.isfile(path):
            return path
    raise ValueError(f"Image {file_name!r} of the annotations is in none of "
                     f"{roots}.")


def to_results(image_ids, detections, category_ids=None):
    """COCO's result list (`[{"image_id", "category_id", "bbox": [x, y, w,
    h], "score"}]`) of per-image detections (`xyxy` boxes in the images'
    pixels, scores, labels). `category_ids`: label -> category id (a dict
    or sequence); None: the labels are the category ids (torchvision's
    COCO labels are)."""
    results = []
    for image_id, d in zip(image_ids, detections):
        boxes = np.asarray(d["boxes"], np.float64).reshape(-1, 4)
        for (x1, y1, x2, y2), score, label in zip(boxes, d["scores"],
                                                  d["labels"]):
            label = int(label)
            results.append({
                "image_id": int(image_id),
                "category_id": label if category_ids is None
                else int(category_ids[label]),
                "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                "score": float(score)})
    return results


def coco_metrics(coco, results, verbose=False):
    """COCOeval's box metrics of `results` against the ground truth `coco`
    (a pycocotools `COCO`): {name: value} for `STATS` (AP at IoU .50:.95,
    .50, .75, by area, then AR). No result: every value 0. `verbose`:
    pycocotools' summary printed."""
    _, COCOeval = _pycocotools()
    if not results:
        return dict.fromkeys(STATS, 0.0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    if verbose:
        print("\n".join(l for l in out.getvalue().splitlines()
                        if l.startswith(" Average")))
    # pycocotools' -1 where no ground truth falls in an area range
    return {name: float(v) for name, v in zip(STATS, evaluation.stats)}


def load(folder):
    """(pycocotools `COCO` of the folder's annotations, image ids sorted,
    their paths)."""
    COCO, _ = _pycocotools()
    annotations, roots = find_annotations(folder)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(annotations)
    ids = sorted(coco.getImgIds())
    paths = [_image_path(roots, coco.imgs[i]["file_name"]) for i in ids]
    return coco, ids, paths


def evaluate(model, folder, batch_size=8, score_threshold=0.001,
             category_ids=None, verbose=False):
    """COCO box mAP of an SSDLite `model` on a COCO-format `folder`
    (`find_annotations`), with torchvision's post-processing.

    Returns `coco_metrics`' dict, plus "images": how many were evaluated.
    """
    batch_size = arguments.integer()("batch_size", batch_size)
    coco, ids, paths = load(folder)
    detections = detect(model, paths, batch_size, score_threshold)
    result = coco_metrics(coco, to_results(ids, detections, category_ids),
                          verbose)
    result["images"] = len(ids)
    return result
