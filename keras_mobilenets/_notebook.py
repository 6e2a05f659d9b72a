"""What the notebooks need only when CI runs them: with
KERAS_MOBILENETS_NOTEBOOK_OFFLINE=1 they run without a network, on the real
weight files of ../shared/weights (beside this checkout) and on TensorFlow
Datasets' mock data. A user never sets it."""

import os
import shutil
import tempfile

SWITCH = "KERAS_MOBILENETS_NOTEBOOK_OFFLINE"
# The test suite's ../shared (it passes its choice on: a clone elsewhere,
# or an empty folder to run as a bare clone does).
SHARED = os.environ.get("KERAS_MOBILENETS_TESTS_SHARED", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "shared"))


def offline():
    """True under CI's switch; then Keras' cache is a fresh folder holding
    the shared weight files, so `weights="imagenet"` finds them."""
    if os.environ.get(SWITCH) != "1":
        return False
    home = tempfile.mkdtemp()
    os.makedirs(os.path.join(home, "models"))
    weights = os.path.join(SHARED, "weights")
    for name in os.listdir(weights) if os.path.isdir(weights) else []:
        shutil.copy(os.path.join(weights, name),
                    os.path.join(home, "models", name))
    os.environ["KERAS_HOME"] = home
    return True


def shared_image(name):
    """A photo of ../shared/images (offline runs only)."""
    return os.path.join(SHARED, "images", name)


def load_dataset(*args, mock_examples=64, **kwargs):
    """`tfds.load`; under CI's switch, on TensorFlow Datasets' mock data
    (`mock_examples` of them)."""
    import tensorflow_datasets as tfds

    if os.environ.get(SWITCH) != "1":
        return tfds.load(*args, **kwargs)
    with tfds.testing.mock_data(num_examples=mock_examples):
        return tfds.load(*args, **kwargs)
