"""Every notebook runs top to bottom, offline, as a Colab user runs it: the
same cells, with only the data source switched by the one setting the first
cell hands to `keras_mobilenets._notebook.offline()`
(KERAS_MOBILENETS_NOTEBOOK_OFFLINE=1: TensorFlow Datasets' mock data, real
weights from ../shared/weights). Each notebook runs on the backends it is
written for, in the pytest session of that backend. Each opens in Colab: a
badge and an install line derived from setup.cfg's `url`, with the extras
the notebook imports."""

import configparser
import os
import re

import keras
import pytest

from conftest import ROOT, SHARED, SHARED_WEIGHTS

NOTEBOOKS = os.path.join(ROOT, "notebooks")
# Notebook: the backends it runs on here. 1 and 3 need one: 3 starts the
# three backends itself, in subprocesses.
BACKENDS = {
    "01_quick_start.ipynb": ("torch",),
    "02_transfer_learning_tf_flowers.ipynb": ("tensorflow", "jax"),
    "03_switching_backends.ipynb": ("torch",),
    "04_deployment.ipynb": ("tensorflow",),  # LiteRT and int8: TensorFlow's
    "05_segmentation.ipynb": ("tensorflow",),  # LiteRT export: TensorFlow
    "06_detection.ipynb": ("tensorflow",),  # LiteRT export: TensorFlow
}
HERE = [name for name, backends in BACKENDS.items()
        if keras.backend.backend() in backends]
# What a notebook's code names -> the extra of setup.cfg that installs it.
NEEDS = {"onnxruntime": "export", "ai_edge_litert": "export",
         "tf2onnx": "export", "load_dataset": "notebooks",
         "tensorflow_datasets": "notebooks", "matplotlib": "notebooks",
         "pycocotools": "notebooks",
         "draw_bounding_boxes": "notebooks"}  # OpenCV draws


def test_every_notebook_is_run_somewhere():
    assert sorted(BACKENDS) == sorted(
        f for f in os.listdir(NOTEBOOKS) if f.endswith(".ipynb"))


def test_notebooks_are_committed_without_outputs():
    import nbformat

    for name in BACKENDS:
        nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, name


def test_every_notebook_opens_in_colab():
    import nbformat

    setup = configparser.ConfigParser(interpolation=None)
    setup.read(os.path.join(ROOT, "setup.cfg"))
    url = setup["metadata"]["url"]
    extras = set(setup["options.extras_require"])
    assert url.startswith("https://github.com/"), url
    colab = url.replace("https://github.com/",
                        "https://colab.research.google.com/github/")
    for name in BACKENDS:
        nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
        badge = ("[![Open In Colab](https://colab.research.google.com/assets/"
                 f"colab-badge.svg)]({colab}/blob/main/notebooks/{name})")
        assert badge in nb.cells[0].source, (name, badge)
        first = nb.cells[1].source
        install = re.findall(r'%pip install -q "keras-mobilenets(\[[^]]*\])? '
                             r'@ git\+(\S+)\.git"', first)
        assert len(install) == 1 and install[0][1] == url, (name, install)
        named = set(filter(None, install[0][0].strip("[]").split(",")))
        assert named <= extras, (name, named - extras)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        needed = {extra for word, extra in NEEDS.items()
                  if re.search(rf"\b{word}\b", code)}
        assert needed <= named, (name, "install lacks", needed - named)
        # CI's switch stays in the package's helper, not in the notebook.
        assert "KERAS_MOBILENETS_NOTEBOOK_OFFLINE" not in code, name
        assert "shutil" not in first and "../shared" not in code, name


@pytest.mark.parametrize("name", HERE)
def test_notebook_runs_top_to_bottom(name, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    if not os.path.isdir(SHARED_WEIGHTS):
        pytest.skip(f"the offline notebooks read real weights from {SHARED_WEIGHTS}")
    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(),
               KERAS_MOBILENETS_NOTEBOOK_OFFLINE="1", MPLBACKEND="Agg",
               KERAS_MOBILENETS_TESTS_SHARED=SHARED,
               TF_CPP_MIN_LOG_LEVEL="2")
    # Files the notebook writes land in tmp_path; a cell that raises fails
    # the test (CellExecutionError) with its traceback.
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)
    printed = "".join(o.get("text", "") for c in nb.cells
                      for o in c.get("outputs", []))
    print(printed[-3000:])
