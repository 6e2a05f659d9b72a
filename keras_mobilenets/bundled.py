"""The one checkpoint shipped inside the package, so the main job works
offline: the official Keras MobileNet (V1) alpha 0.25, 224x224, 1000 classes,
`keras-mobilenets predict`'s model when none is named."""

import hashlib
import os

from . import registry
from .errors import WeightsError

MODEL = "MobileNet"
ALPHA = 0.25
FILE = os.path.join(os.path.dirname(__file__), "data", "mobilenet_2_5_224_tf.h5")
# The shipped file's own hash. Its values are the official file's, its bytes
# are not (re-written in the same legacy HDF5 layout): never the official hash.
SHA256 = "4a22c940731a2b46ff3d72a332013f30a8feafc2d888b4659ed5b3638cf7b942"


def weights_file():
    """The path of the shipped weights, once its sha256 is checked."""
    digest = hashlib.sha256()
    with open(FILE, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != SHA256:
        raise WeightsError(
            f"the weights shipped with the package at {FILE} are damaged "
            f"(sha256 {digest.hexdigest()}, expected {SHA256}): reinstall "
            "keras-mobilenets")
    return FILE


def model(**kwargs):
    """MobileNet alpha 0.25 with the shipped ImageNet weights (`kwargs` go
    to the builder: `input_shape`, `name`, ...)."""
    return registry.get(MODEL).builder(alpha=ALPHA, weights=weights_file(),
                                       **kwargs)
