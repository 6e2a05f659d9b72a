"""Every ```python block of README.md and docs/*.md runs, offline, on the
active backend, so no example goes stale.

A page's blocks run in order in one namespace, as a reader types them, in a
folder holding `elephant.jpg`, with the shared real weights in a temporary
Keras cache and a stand-in Hugging Face hub (`fake_hub.FakeHub`) serving the
V4 repositories the pages name (the V4 parity fixture's weights of
MobileNetV4ConvSmall at alpha 0.5, `tests/v4_reference.py`: they run, they
are not ImageNet's). A block whose first line is `# TensorFlow backend only`
is its own test, run under TensorFlow.
"""

import glob
import json
import os
import re
import shutil

import keras
import numpy as np
import pytest
from safetensors.numpy import save

from conftest import ELEPHANT, ROOT, V1_025_FILE, V2_035_NO_TOP_FILE, shared_file
from keras_mobilenets import data_config, registry
from v4_reference import load_fixture, reference_weights

PAGES = ["README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
TENSORFLOW_ONLY = "# TensorFlow backend only"
SMALLEST = "mobilenetv4_conv_small_050"  # timm's MobileNetV4ConvSmall(alpha=0.5)
PETS = "someone/mobilenetv4-pets"  # docs/checkpoints.md's hub repository
PET_NAMES = ["cat", "dog", "rabbit"]


def _blocks(page):
    with open(os.path.join(ROOT, page), encoding="utf8") as f:
        return BLOCK.findall(f.read())


def _tensorflow_only(code):
    return code.startswith(TENSORFLOW_ONLY)


def test_every_page_is_found_and_has_python_blocks():
    assert "docs/weights.md" in PAGES and "docs/speed.md" in PAGES
    with_code = [p for p in PAGES if _blocks(p)]
    assert "README.md" in with_code and len(with_code) >= 7, with_code
    assert len(_blocks("README.md")) == 5  # classify, fine-tune, features, segment, export


def _pets_repository(state):
    rng = np.random.default_rng(0)
    state = dict(state)
    width = state["classifier.weight"].shape[1]
    state["classifier.weight"] = rng.normal(
        0, 0.05, (len(PET_NAMES), width)).astype("float32")
    state["classifier.bias"] = np.zeros(len(PET_NAMES), "float32")
    config = {"architecture": SMALLEST, "num_classes": len(PET_NAMES),
              "num_features": 1280, "label_names": PET_NAMES,
              "pretrained_cfg": {"tag": "pets", "input_size": [3, 224, 224],
                                 "crop_pct": 0.875, "interpolation": "bicubic",
                                 "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                 "num_classes": len(PET_NAMES),
                                 "classifier": "classifier"}}
    return {"config.json": json.dumps(config).encode(),
            "model.safetensors": save(state)}


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """The folder the blocks run in, its Keras cache and its stand-in hub."""
    from fake_hub import FakeHub

    weights = [shared_file(V1_025_FILE), shared_file(V2_035_NO_TOP_FILE)]
    if not os.path.isfile(ELEPHANT):
        pytest.skip(f"the shared photo {ELEPHANT} is absent")
    root = tmp_path_factory.mktemp("docs")
    work, home = root / "work", root / "keras_home"
    (home / "models").mkdir(parents=True)
    work.mkdir()
    for path in weights:
        shutil.copy(path, home / "models")
    shutil.copy(ELEPHANT, work / "elephant.jpg")

    fx = load_fixture(SMALLEST)
    state = reference_weights(fx["spec"], fx["seed"])
    entry, alpha = registry.timm_names()[SMALLEST]
    default = next(c for c in entry.checkpoints if c.default and c.alpha == alpha)
    hub = FakeHub().start()
    hub.add(default.hf_hub_id, {"model.safetensors": save(state)})
    hub.add(PETS, _pets_repository(state))

    patch = pytest.MonkeyPatch()
    patch.chdir(work)
    patch.setenv("KERAS_HOME", str(home))
    patch.setenv("HF_ENDPOINT", hub.url)
    patch.setenv("HF_HUB_CACHE", str(root / "hf_hub_cache"))
    patch.delenv("HF_HUB_OFFLINE", raising=False)
    patch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    patch.setenv("NO_PROXY", "127.0.0.1,localhost")
    patch.setenv("no_proxy", "127.0.0.1,localhost")
    # Anything but the stand-in hub would be a download: refused.
    patch.setattr(keras.utils, "get_file", lambda *a, **k: pytest.fail(
        f"a docs example tried to download {a or k}"))
    try:
        yield work, hub
    finally:
        patch.undo()
        hub.stop()


def _run(code, namespace, where):
    exec(compile(code, where, "exec"), namespace)  # noqa: S102 (our own pages)


def _classified_the_elephant(namespace):
    preds = namespace["model"].predict(namespace["x"], verbose=0)
    assert int(preds.argmax()) == 386  # African elephant: the real weights


def _fitted(namespace):
    assert namespace["model"].optimizer.iterations.numpy() == 1  # one step


def _maps_by_stride(namespace):
    maps = namespace["maps"]
    assert sorted(maps) == [f"stride_{s}" for s in (16, 2, 32, 4, 8)]
    assert tuple(maps["stride_32"].shape) == (1, 4, 4, 480)  # alpha 0.5


def _segments(namespace):
    assert tuple(namespace["model"].output.shape) == (None, 128, 128, 21)


def _presets(namespace):
    config = data_config(namespace["model"])
    assert namespace["model"].name == "MobileNetV4ConvSmall"
    assert config["weights"] == "e3000_r224_in1k"
    assert tuple(namespace["pets"].output.shape) == (None, len(PET_NAMES))
    assert namespace["pets"].class_names[0][0] == PET_NAMES[0]
    assert tuple(namespace["backbone"].output.shape) == (None, 480)  # 0.5


def _detects(namespace):
    anchors = 6 * (10 * 10 + 5 * 5 + 3 * 3 + 2 * 2 + 1 + 1)  # at 160x160
    outputs = namespace["outputs"]
    assert len(namespace["anchors"]) == anchors
    assert tuple(outputs["bbox_regression"].shape) == (2, anchors, 4)
    assert tuple(outputs["cls_logits"].shape) == (2, anchors, 21)
    assert len(namespace["detections"]) == 2


def _retina_detects(namespace):
    assert namespace["detector"].optimizer.iterations.numpy() == 1  # one step
    assert namespace["found"]["boxes"].shape == (2, 100, 4)


def _wrapped(namespace):
    import keras_mobilenets

    model = namespace["model"]
    assert isinstance(model, keras_mobilenets.Model)
    assert model.predict_on_batch(np.zeros((1, 224, 224, 3))).shape == (1, 5)


def _quantized(namespace):
    from keras_mobilenets import quantization

    assert namespace["qat"].optimizer.iterations.numpy() == 1  # one step
    assert not quantization.calibration.uncalibrated(namespace["qat"])
    assert os.path.getsize("model_int8.tflite") > 1e5
    assert os.path.getsize("qat.keras") > 1e5


# What the pages' examples say they do, checked after each one runs.
CHECKS = {("README.md", 0): _classified_the_elephant, ("README.md", 1): _fitted,
          ("README.md", 2): _maps_by_stride, ("README.md", 3): _segments,
          ("docs/checkpoints.md", 0): _presets, ("docs/speed.md", 0): _wrapped,
          ("docs/detection.md", 0): _detects, ("docs/detection.md", 1): _fitted,
          ("docs/detection.md", 3): _retina_detects,
          ("docs/quantization.md", 0): _quantized}
# Pages whose examples need a module that is not a requirement of the
# package (the README's test command installs it): {page: module}.
NEEDS = {"docs/detection.md": "keras_hub"}


@pytest.mark.parametrize("page", [p for p in PAGES if any(
    not _tensorflow_only(code) for code in _blocks(p))])
def test_page_examples_run(offline, page):
    if page in NEEDS:
        pytest.importorskip(NEEDS[page], reason=f"{page} needs {NEEDS[page]}")
    namespace = {"__name__": "__docs__"}
    ran = 0
    for i, code in enumerate(_blocks(page)):
        if not _tensorflow_only(code):
            _run(code, namespace, f"{page}, python block {i + 1}")
            CHECKS.get((page, i), lambda namespace: None)(namespace)
            ran += 1
    assert ran, page


TENSORFLOW_BLOCKS = [(p, i) for p in PAGES for i, code in enumerate(_blocks(p))
                     if _tensorflow_only(code)]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="TensorFlow-only examples run in the TensorFlow run")
@pytest.mark.parametrize("page, index", TENSORFLOW_BLOCKS)
def test_tensorflow_examples_run(offline, page, index):
    work, _ = offline
    code = _blocks(page)[index]
    _run(code, {"__name__": "__docs__"}, f"{page}, python block {index + 1}")
    for name in re.findall(r'\.export\("([^"]+)"', code):  # the files it writes
        assert (work / name).stat().st_size > 1e5, name
