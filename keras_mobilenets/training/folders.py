"""The images of a training folder: class folders (Keras'
`image_dataset_from_directory` layout), or `train/` and `val/` (and
`test/`) holding them; else a deterministic stratified validation split.
Every check here runs before a model is built."""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

# What `tf.io.decode_image` reads (by content, not by name).
SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "MPO")
SPLITS = ("train", "val", "test")


def _readable(path):
    """True where PIL recognises `path` as an image tf.data can decode
    (reads the header only)."""
    try:
        with Image.open(path) as image:
            return image.format in FORMATS
    except (UnidentifiedImageError, OSError):
        return False


def class_folders(folder):
    """{class name: [image paths, sorted]} of `folder`'s sub-folders, and the
    files skipped: (files without an image suffix, files with one that are
    no image tf.data decodes)."""
    if not os.path.isdir(folder):
        raise ValueError(f"No folder at {folder!r}. Received: data={folder!r}")
    classes, other, unreadable = {}, [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isdir(path):
            continue
        found = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                file = os.path.join(root, f)
                if not f.lower().endswith(SUFFIXES):
                    other.append(file)
                elif _readable(file):
                    found.append(file)
                else:
                    unreadable.append(file)
        classes[name] = found
    return classes, other, unreadable


def _checked(classes, folder):
    """`classes` where it has two classes or more, each with an image."""
    if not classes:
        raise ValueError(
            "Expected one sub-folder per class (Keras' "
            "image_dataset_from_directory layout), or train/ and val/ "
            f"holding them. Received: {folder!r} with no sub-folder")
    empty = [c for c, paths in classes.items() if not paths]
    if empty:
        raise ValueError(
            f"Every class folder needs images ({', '.join(SUFFIXES)}). "
            f"Received: no image in {', '.join(empty[:5])} of {folder!r}")
    if len(classes) < 2:
        raise ValueError(
            "A classifier needs two classes or more. Received: one class "
            f"folder ({next(iter(classes))}) in {folder!r}")
    return classes


def stratified_split(classes, fraction, seed=0):
    """(train, val) {class: paths}: per class, round(fraction * n) images
    (at least one where the class has two) drawn with a fixed seed."""
    if not 0 < fraction < 1:
        raise ValueError("validation_split must be in (0, 1) when the data "
                         "has no val/ folder. Received: "
                         f"validation_split={fraction!r}")
    rng = np.random.default_rng(seed)
    train, val = {}, {}
    for name, paths in classes.items():
        order = rng.permutation(len(paths))
        count = min(len(paths) - 1, max(1, round(fraction * len(paths))))
        held = set(order[:count].tolist())
        val[name] = [p for i, p in enumerate(paths) if i in held]
        train[name] = [p for i, p in enumerate(paths) if i not in held]
    return train, val


def splits(folder, validation_split=0.1, seed=0):
    """The splits of a training folder.

    Returns (class names, {"train": [(path, index)], "val": [...],
    "test": [...] or absent}, skipped), where skipped lists the files that
    are left out: files without an image suffix and files that are no
    decodable image (counted and named in the run's report).
    """
    found = {s: os.path.isdir(os.path.join(folder, s)) for s in SPLITS}
    skipped = []

    def read(path):
        classes, other, unreadable = class_folders(path)
        skipped.extend(other + unreadable)
        return _checked(classes, path)

    if found["train"]:
        parts = {"train": read(os.path.join(folder, "train"))}
        if found["val"]:
            parts["val"] = read(os.path.join(folder, "val"))
        else:
            parts["train"], parts["val"] = stratified_split(
                parts["train"], validation_split, seed)
        if found["test"]:
            parts["test"] = read(os.path.join(folder, "test"))
    else:
        parts = dict(zip(("train", "val"), stratified_split(
            read(folder), validation_split, seed)))
    names = list(parts["train"])
    for split, classes in parts.items():
        unknown = sorted(set(classes) - set(names))
        if unknown:
            raise ValueError(
                f"The {split} split has classes the train split lacks: "
                f"{', '.join(unknown[:5])}. Received: data={folder!r}")
    index = {n: i for i, n in enumerate(names)}
    items = {split: [(p, index[c]) for c, paths in classes.items()
                     for p in paths] for split, classes in parts.items()}
    if not items["val"]:
        raise ValueError("The validation split is empty: each class needs two "
                         f"images or more. Received: data={folder!r}")
    return names, items, skipped
