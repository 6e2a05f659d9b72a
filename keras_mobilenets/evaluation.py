"""Top-1 / top-5 accuracy of a classifier on an ImageNet-layout folder: one
sub-folder per class, named by its WordNet id (`n02504458/...jpg`), as
ImageNet's validation set is usually laid out."""

import os

import keras
import numpy as np

from . import imagenet
from .training import folders

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def labelled_images(folder, classes=1000):
    """[(path, class index)] of an ImageNet-layout folder, sorted; the
    indices of the ImageNet-1k classes, or with `classes=11821` of the
    ImageNet-12k ones, `classes=11221` of MIIL's ImageNet-21k ones
    (`imagenet.CLASS_INDEXES`)."""
    if not os.path.isdir(folder):
        raise ValueError(f"No folder at {folder!r}. Received: --data {folder}")
    if classes not in imagenet.CLASS_INDEXES:
        raise ValueError(
            "Evaluation needs a classifier of ImageNet classes, "
            f"{' or '.join(map(str, imagenet.CLASS_INDEXES))} of them. "
            f"Received: a model with {classes} outputs")
    index = {wnid: i for i, (wnid, _) in
             imagenet.CLASS_INDEXES[classes]().items()}
    found, unknown = [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isdir(path):
            continue
        if name not in index:
            unknown.append(name)
            continue
        found += [(os.path.join(path, f), index[name])
                  for f in sorted(os.listdir(path))
                  if f.lower().endswith(IMAGE_SUFFIXES)]
    if unknown:
        raise ValueError(
            "Expected one sub-folder per ImageNet class, named by its "
            f"WordNet id (e.g. n02504458). Received: {', '.join(unknown[:5])}"
            f"{' ...' if len(unknown) > 5 else ''} in {folder}")
    if not found:
        raise ValueError(
            f"No images ({', '.join(IMAGE_SUFFIXES)}) in class sub-folders of "
            f"{folder}. Received: --data {folder}")
    return found


def evaluate(model, folder, transform, preprocess, batch_size=32,
             progress=True):
    """Top-1 and top-5 accuracy of `model` on `folder`.

    `transform` turns a path into an (rows, cols, 3) array (e.g.
    `keras_mobilenets.eval_transform(...)`), `preprocess` a batch of those
    into the model's input. Returns {"images", "top1", "top5"}.
    """
    items = labelled_images(folder, model.output.shape[-1])
    return accuracy(model, items, transform, preprocess, batch_size, progress)


def evaluate_classes(model, folder, transform, batch_size=32, progress=True):
    """Top-1 and top-5 accuracy of a model that carries its class names
    (`keras-mobilenets train`'s) on a folder of folders named by them, as
    `train` reads them; the model takes pixels in [0, 255]."""
    index = {name: i for i, (name, _) in enumerate(model.class_names)}
    classes, _, _ = folders.class_folders(folder)
    unknown = [c for c in classes if c not in index]
    if unknown:
        raise ValueError(
            f"Expected folders named by the model's classes ("
            f"{', '.join(list(index)[:10])}). Received: "
            f"{', '.join(unknown[:5])} in {folder}")
    items = [(p, index[c]) for c, paths in classes.items() for p in paths]
    if not items:
        raise ValueError(f"No images in the class folders of {folder}. "
                         f"Received: --data {folder}")
    return accuracy(model, items, transform, lambda x: x, batch_size,
                    progress)


def accuracy(model, items, transform, preprocess, batch_size=32,
             progress=True):
    """{"images", "top1", "top5"} of `model` on [(path, class index)]."""
    bar = keras.utils.Progbar(len(items), unit_name="image") if progress else None
    top1 = top5 = 0
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        batch = preprocess(np.stack([transform(path) for path, _ in chunk]))
        scores = keras.ops.convert_to_numpy(model.predict(batch, verbose=0))
        best = np.argsort(-scores, axis=1, kind="stable")[:, :5]
        labels = np.array([label for _, label in chunk])
        top1 += int(np.sum(best[:, 0] == labels))
        top5 += int(np.sum(np.any(best == labels[:, None], axis=1)))
        if bar is not None:
            bar.add(len(chunk))
    return {"images": len(items), "top1": top1 / len(items),
            "top5": top5 / len(items)}
