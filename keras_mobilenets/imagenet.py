"""ImageNet-1k, ImageNet-12k and MIIL's ImageNet-21k class names (shipped with
the package, so this works offline) and the input preprocessing of the Keras
reference models."""

import functools
import gzip
import json
import os

import keras
import numpy as np

from . import data

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")
SAMPLE_IMAGE = os.path.join(DATA_DIR, "chelsea.jpg")


@functools.lru_cache(maxsize=1)
def class_index():
    """{class id: (WordNet id, name)}; byte-identical to Keras'
    imagenet_class_index.json (see fixture_scripts/make_class_index.py)."""
    with open(os.path.join(DATA_DIR, "imagenet_class_index.json")) as f:
        return {int(k): tuple(v) for k, v in json.load(f).items()}


def _read_classes(filename):
    """{class id: (WordNet id, name)} of a gzipped `<wnid>\t<name>` file."""
    path = os.path.join(DATA_DIR, filename)
    with gzip.open(path, "rt", encoding="utf8") as f:
        return {i: tuple(line.rstrip("\n").split("\t"))
                for i, line in enumerate(f)}


@functools.lru_cache(maxsize=1)
def class_index_12k():
    """{class id: (WordNet id, name)} of the 11821 classes of timm's
    ImageNet-12k heads (see fixture_scripts/make_imagenet12k_classes.py)."""
    return _read_classes("imagenet12k_classes.txt.gz")


@functools.lru_cache(maxsize=1)
def class_index_21k_miil():
    """{class id: (WordNet id, name)} of the 11221 classes of the
    ImageNet-21k head of `mobilenetv3_large_100.miil_in21k` (see
    fixture_scripts/make_imagenet21k_miil_classes.py)."""
    return _read_classes("imagenet21k_miil_classes.txt.gz")


# Class names by the width of a prediction row.
CLASS_INDEXES = {1000: class_index, 11821: class_index_12k,
                 11221: class_index_21k_miil}


def decode_predictions(preds, top=5):
    """Decodes ImageNet predictions of shape (samples, 1000), (samples,
    11821) for ImageNet-12k heads (MobileNetV4's `*_in12k` tags), or
    (samples, 11221) for the ImageNet-21k head of TimmMobileNetV3Large's
    `miil_in21k` tag.

    Returns, per sample, a list of `(class_id, class_name, score)` tuples,
    best first, like `keras.applications.imagenet_utils.decode_predictions`.
    """
    preds = keras.ops.convert_to_numpy(preds)
    if preds.ndim != 2 or preds.shape[1] not in CLASS_INDEXES:
        raise ValueError(
            "`decode_predictions` expects a batch of ImageNet predictions, an "
            "array of shape (samples, 1000), or (samples, 11821) for "
            "ImageNet-12k, or (samples, 11221) for MIIL's ImageNet-21k. "
            f"Received shape: {preds.shape}"
        )
    width = preds.shape[1]
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= width:
        raise ValueError(f"`top` must be an integer in [1, {width}]. "
                         f"Received: top={top!r}")
    index = CLASS_INDEXES[width]()
    results = []
    for pred in preds:
        best = np.argsort(-pred, kind="stable")[:top]
        results.append([index[int(i)] + (pred[i],) for i in best])
    return results


def preprocess_input_tf(x, data_format=None):
    """Scales pixels from [0, 255] to [-1, 1], as the MobileNet V1/V2 weights
    expect (`keras.applications.mobilenet.preprocess_input`, mode "tf").

    Accepts a NumPy array (a float copy is returned; integer input is cast to
    the Keras float type) or a tensor. `data_format` is accepted for
    compatibility; this scaling does not depend on it.
    """
    if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(keras.config.floatx())
        return x / 127.5 - 1.0
    return keras.ops.cast(x, keras.config.floatx()) / 127.5 - 1.0


def load_image(path, size=None, model=None, weights="imagenet",
               use_test_size=False):
    """Reads an image file as a float32 (rows, cols, 3) array, pixels in
    [0, 255], through an eval transform (`keras_mobilenets.EvalTransform`).

    With `model` (a builder such as `keras_mobilenets.MobileNetV4ConvSmall`,
    or its name; or a model it built, which carries its checkpoint's): the
    eval transform of its checkpoint `weights` ("imagenet" or a tag), as
    `keras_mobilenets.eval_transform(model, weights, use_test_size)`, at
    `size` (rows, cols) where given. Without: the whole image resized
    bilinearly to `size`.
    """
    if size is not None and (
            not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool)
                       and s > 0 for s in size)):
        raise ValueError("`size` must be (rows, cols), two positive "
                         f"integers. Received: size={size!r}")
    if model is not None:
        config = data.data_config(model, weights, use_test_size)
    elif size is None:
        raise ValueError("`load_image` needs a `size` (rows, cols) or a "
                         "`model` whose eval transform gives one. "
                         "Received: size=None, model=None")
    else:  # the whole image, squashed: no crop
        config = {"interpolation": "bilinear", "crop_pct": 1.0,
                  "crop_mode": "squash"}
    if size is not None:
        config["input_size"] = (3, *size)
    return data.EvalTransform(config)(path)
