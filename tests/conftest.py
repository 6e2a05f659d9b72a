"""Shared fixtures. The backend is chosen by KERAS_BACKEND before keras is imported."""

import os
import shutil
import sys
import tempfile

import numpy as np
import pytest

# JAX compiles every new shape, Keras' random initialisers included (most of
# the time of building a model on JAX). A disk cache shared by the test
# workers and the subprocesses they start compiles each one once per machine.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    tempfile.gettempdir(), "keras_mobilenets_tests_jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# The PyTorch backend's inference plan: nothing of it runs on the others.
collect_ignore = ([] if os.environ.get("KERAS_BACKEND") == "torch"
                  else ["test_torch_plan.py"])

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")

# Sweeps over every model run on one backend (`swept`); the others check one
# model per family, so the suite fits CI's time on a 2-core machine. The
# first name of each family in `swept`'s list is its representative.
FAMILIES = (
    ("MobileNet",), ("MobileNetV2",), ("MobileNetV3Small", "MobileNetV3Large"),
    ("MobileNetV4ConvSmall", "MobileNetV4ConvMedium"),
    ("MobileNetV4HybridMedium", "MobileNetV4HybridLarge"),
    ("TimmMobileNetV3Large", "TimmMobileNetV2", "TimmMobileNetV1"),
)


def swept(names, on="torch"):
    """`names` (registry names) in full where the backend is `on`, else the
    first of each family among them (`FAMILIES`)."""
    names = list(names)
    if BACKEND == on:
        return names
    keep = [next((n for n in family if n in names), None) for family in FAMILIES]
    return [n for n in names if n in keep]



def pytest_collection_modifyitems(items):
    """The slowest test files first (tests/file_seconds.json, this
    backend's, else TensorFlow's; a file it does not know counts as
    slowest): run_all.py's workers take whole files in this order, so none
    of the long ones is left to run alone at the end."""
    path = os.path.join(ROOT, "tests", "file_seconds.json")
    seconds = {}
    if os.path.isfile(path):
        import json

        with open(path) as f:
            tables = json.load(f)
        seconds = tables.get(BACKEND) or tables.get("tensorflow", {})

    def weight(item):
        name = os.path.relpath(str(item.path), ROOT).replace(os.sep, "/")
        return -seconds.get(name, float("inf"))

    items.sort(key=weight)  # stable: a file's own tests keep their order


# ../shared beside the checkout; KERAS_MOBILENETS_TESTS_SHARED names another
# folder (an empty one runs the suite as a bare clone does).
SHARED = os.path.abspath(os.environ.get(
    "KERAS_MOBILENETS_TESTS_SHARED", os.path.join(os.path.dirname(ROOT), "shared")))
SHARED_WEIGHTS = os.path.join(SHARED, "weights")
ELEPHANT = os.path.join(SHARED, "images", "elephant.jpg")
V1_025_FILE = "mobilenet_2_5_224_tf.h5"
V2_035_NO_TOP_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def wide_photo(path, size=(700, 466)):
    """Writes a JPEG photo of `size` (width, height) at `path` and returns
    the path: the package's own cat, mirrored and stretched, for tests that
    need a second real photo of another shape (a bare clone has no
    ../shared/images)."""
    from PIL import Image

    from keras_mobilenets import imagenet

    with Image.open(imagenet.SAMPLE_IMAGE) as im:
        im.convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize(
            size, Image.BICUBIC).save(path, quality=95)
    return str(path)


# A new user's clone has no ../shared: only a test that asked `shared_file`
# for a real weights file (and so skips without it) may read there. Every
# Python `open` under SHARED while a test runs (its fixtures, tf.data
# generators and threads included) is recorded, and a test that read there
# without asking fails at teardown, naming the file.
_SHARED_READS = {"running": False, "asked": False, "read": []}


def _record_shared_reads(event, args):
    if event != "open" or not _SHARED_READS["running"] or not args:
        return
    path = args[0]
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(path))
        if path.startswith(SHARED + os.sep):
            _SHARED_READS["read"].append(path)


sys.addaudithook(_record_shared_reads)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before any fixture of the test, module-scoped ones included.
    _SHARED_READS.update(running=True, asked=False, read=[])


@pytest.fixture(autouse=True)
def _reads_shared_only_if_asked():
    yield
    read, asked = sorted(set(_SHARED_READS["read"])), _SHARED_READS["asked"]
    _SHARED_READS.update(running=False, read=[])
    if read and not asked:
        pytest.fail(f"read {read} from ../shared without asking shared_file(): "
                    "a bare clone (no ../shared) fails this test; carry the "
                    "data in the repository, or skip through shared_file() "
                    "if it needs real weights", pytrace=False)


def shared_file(name):
    """Path of a real weights file from ../shared/weights (or of a photo of
    ../shared/images, by absolute path), or skip the test."""
    _SHARED_READS["asked"] = True
    path = os.path.join(SHARED_WEIGHTS, name)
    if not os.path.isfile(path):
        pytest.skip(f"real weights {name} not found in {SHARED_WEIGHTS} "
                    "(only a checkout with ../shared beside it has them)")
    return path


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache folder, read by keras_mobilenets at call time."""
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A stand-in Hugging Face hub on 127.0.0.1 (`fake_hub.FakeHub`), with
    `HF_ENDPOINT` pointing at it and an empty huggingface_hub cache
    (`HF_HUB_CACHE`); stopped at the end of the test."""
    from fake_hub import FakeHub

    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_hub_cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def cache_with(keras_home):
    """Places real weight files into the temporary Keras cache."""

    def place(*names):
        for name in names:
            shutil.copy(shared_file(name), keras_home / "models" / name)
        return keras_home / "models"

    return place


def _residual_branch_ends(model):
    """Names of the layers that end a residual branch: inputs of an Add that
    nothing else consumes (the shortcut has another consumer), read from the
    functional model's config."""

    def inputs_of(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                return [value["config"]["keras_history"][0]]
            value = list(value.values())
        if isinstance(value, (list, tuple)):
            return [name for v in value for name in inputs_of(v)]
        return []

    producers, consumers = {}, {}
    for layer in model.get_config()["layers"]:
        names = inputs_of([node["args"] for node in layer["inbound_nodes"]])
        producers[layer["name"]] = (layer["class_name"], names)
        for name in names:
            consumers[name] = consumers.get(name, 0) + 1
    return {name for cls, names in producers.values() if cls == "Add"
            for name in names if consumers[name] == 1}


# V4 hybrid layers whose outputs form the attention logits (query . key).
ATTENTION_LOGIT_PROJECTIONS = ("_query_proj", "_key_proj")


def randomize(model, seed=0):
    """Deterministic, well-scaled random values for every variable of `model`
    (positive moving variances), so that parity tests compare real signal."""
    import keras

    rng = np.random.default_rng(seed)
    branch_ends = _residual_branch_ends(model)
    for layer in model.layers:
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        # The last scale of a residual branch (projection BN, layer scale)
        # stays small, or deep residual stacks (V4) grow activations ~1e8.
        branch_end = layer.name in branch_ends
        for v in layer.weights:
            name, shape = v.path.rsplit("/", 1)[-1], tuple(v.shape)
            if name == "moving_variance":
                value = rng.uniform(0.5, 2.0, shape)
            elif name == "gamma":
                low, high = (0.1, 0.3) if branch_end else (0.5, 1.5)
                value = rng.uniform(low, high, shape)
            elif name in ("beta", "bias", "moving_mean"):
                value = rng.normal(0.0, 0.1, shape)
            else:
                fan_in = int(np.prod(shape[:2] if depthwise else shape[:-1]))
                std = np.sqrt(2.0 / max(fan_in, 1))
                if layer.name.endswith(ATTENTION_LOGIT_PROJECTIONS):
                    std *= 0.25  # keep attention softmax away from one-hot
                value = rng.normal(0.0, std, shape)
            v.assign(value.astype("float32"))
    return model


def model_outputs(model, x):
    """Inference outputs as NumPy. On JAX through `predict` (one compiled
    graph), which is several times faster to first result than eager ops."""
    import keras

    if keras.backend.backend() == "jax":
        return model.predict(x, verbose=0, batch_size=len(x))
    return keras.tree.map_structure(keras.ops.convert_to_numpy,
                                    model(x, training=False))


def write_legacy_h5(path, layers):
    """Writes {layer name: [arrays]} in the legacy (Keras 2) HDF5 layout of the
    official keras.applications files: root attribute `layer_names`, one group
    per layer with attribute `weight_names`."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in layers]
        for name, arrays in layers.items():
            group = f.create_group(name)
            names = [f"{name}/w{i}:0".encode() for i in range(len(arrays))]
            group.attrs["weight_names"] = names
            for wname, array in zip(names, arrays):
                group.create_dataset(wname.decode(), data=array)
    return path


def layer_arrays(model):
    """{layer name: [arrays]} of every layer of `model` that has weights."""
    return {layer.name: [np.asarray(w) for w in layer.get_weights()]
            for layer in model.layers if layer.weights}
