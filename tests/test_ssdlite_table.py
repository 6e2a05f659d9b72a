"""The SSDLite table of docs/detection.md is what
fixture_scripts/ssdlite_table.py computes now. Parameters and MACs do not
depend on the backend: checked on TensorFlow, where the models build fastest."""

import os
import subprocess
import sys

import keras
import pytest

from conftest import ROOT

BEGIN, END = "<!-- ssdlite-table:begin -->\n", "\n<!-- ssdlite-table:end -->"


def test_docs_ssdlite_table_is_what_the_script_computes():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("backend-independent figures, checked on tensorflow")
    with open(os.path.join(ROOT, "docs", "detection.md"), encoding="utf8") as f:
        page = f.read()
    assert page.count(BEGIN) == 1 and page.count(END) == 1
    table = page.split(BEGIN)[1].split(END)[0]
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "fixture_scripts",
                                      "ssdlite_table.py")],
        capture_output=True, text=True,
        env=dict(os.environ, KERAS_BACKEND=keras.backend.backend()))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == table
    rows = {line.split(" | ")[0]: line.split(" | ")[1:]
            for line in table.splitlines()[2:]}
    assert len(rows) == 6  # five backbones and torchvision's row
    # torchvision's network here has torchvision's documented parameters
    ours = next(v for k, v in rows.items()
                if k.startswith("| `TorchvisionMobileNetV3Large`"))
    theirs = next(v for k, v in rows.items() if "ssdlite320" in k)
    assert ours[0] == theirs[0] == "3,440,060", (ours, theirs)
