"""`decode_predictions(preds, top=5, model=None)`: the classes of a model's
top by name, those its weights list (a Hugging Face hub repository's
`label_names` and `label_descriptions`), else ImageNet's."""

import keras
import numpy as np

from . import imagenet
from .model import Model


def class_names(model):
    """((class id, class name), ...), one per output of `model`'s top,
    where its weights named them (`weights="hf-hub:..."` from a repository
    whose config.json has `label_names`; `Model.class_names`), else None."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras.Model built by keras_mobilenets. "
            f"Received: model={model!r} of type {type(model).__name__}")
    return model.class_names if isinstance(model, Model) else None


def decode_predictions(preds, top=5, model=None):
    """Decodes a batch of predictions of shape (samples, classes).

    Returns, per sample, a list of `(class_id, class_name, score)` tuples,
    best first, like `keras.applications.imagenet_utils.decode_predictions`.
    Without `model`, or for a model whose weights name no classes, the
    predictions must be ImageNet's (1000 classes: WordNet id and name).
    With `model` built from a hub repository whose config.json lists
    `label_names` (timm's `push_to_hf_hub(..., model_config=
    {"label_names": ...})`), its classes: (label name, its
    `label_descriptions` entry or the name again).
    """
    names = None if model is None else class_names(model)
    if names is None:
        try:
            return imagenet.decode_predictions(preds, top)
        except ValueError as e:
            if model is None or "`top`" in str(e):
                raise
            raise ValueError(
                f"Model {model.name!r} carries no class names (its weights "
                "named none: a hub repository whose config.json has no "
                "`label_names`), so only ImageNet's 1000 classes decode. "
                f"{e}") from None
    preds = keras.ops.convert_to_numpy(preds)
    if preds.ndim != 2 or preds.shape[1] != len(names):
        raise ValueError(
            f"Model {model.name!r} has {len(names)} classes: "
            "`decode_predictions` expects an array of shape (samples, "
            f"{len(names)}). Received shape: {preds.shape}")
    if isinstance(top, bool) or not isinstance(top, int) \
            or not 1 <= top <= len(names):
        raise ValueError(f"`top` must be an integer in [1, {len(names)}]. "
                         f"Received: top={top!r}")
    return [[names[int(i)] + (pred[i],)
             for i in np.argsort(-pred, kind="stable")[:top]]
            for pred in preds]
