"""The README's set-up commands and CI stay in sync."""

import os
import re

from conftest import ROOT


def test_readme_test_command_is_what_ci_runs():
    setup = open(os.path.join(ROOT, "README.md")).read().split("## Set-up")[1]
    commands = re.findall(r"```bash\n(.*?)\n```", setup.split("## ")[0], re.S)
    assert len(commands) == 2, commands  # main job, tests
    ci = open(os.path.join(ROOT, ".ci", "run")).read().splitlines()
    assert commands[1].strip() in [line.strip() for line in ci]
    assert "tests/run_all.py" in commands[1]
    # The main job names no model: it runs on the weights shipped in the
    # package, offline (tests/test_cli.py runs it).
    assert commands[0].strip().endswith("&& keras-mobilenets predict"), commands[0]


def test_keras_hub_is_never_a_requirement():
    """keras-hub requires tensorflow-text (the full tensorflow wheel): it is
    installed on its own, without dependencies, by the test command."""
    import configparser

    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    options = config["options"]["install_requires"]
    extras = config["options.extras_require"]
    named = options + "".join(extras[k] for k in extras)
    assert "keras-hub" not in named and "tensorflow-text" not in named
    assert "tokenizers" in extras["detection"].split()
    assert set(extras["detection"].split()) <= set(extras["test"].split())
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert "pip install -q --no-deps keras-hub==" in readme


def test_reading_shared_without_asking_fails_the_test(tmp_path):
    """conftest's guard: a test that opens a file of ../shared (here a
    stand-in folder) without asking `shared_file` fails, naming the file, as
    a bare clone would fail it; one that asks first passes. Run in a pytest
    of its own with conftest as a plugin."""
    import subprocess
    import sys

    shared = tmp_path / "shared"
    (shared / "images").mkdir(parents=True)
    photo = shared / "images" / "photo.jpg"
    photo.write_bytes(b"not really a photo")
    (tmp_path / "test_reads.py").write_text(
        "import threading\n"
        "from conftest import shared_file\n"
        f"PHOTO = {str(photo)!r}\n"
        "def _read():\n"
        "    open(PHOTO, 'rb').close()\n"
        "def test_reads_in_a_thread():\n"
        "    t = threading.Thread(target=_read); t.start(); t.join()\n"
        "def test_asks_first():\n"
        "    _read() if shared_file(PHOTO) else None\n"
        "def test_reads_nothing():\n"
        "    pass\n")
    env = dict(os.environ, KERAS_MOBILENETS_TESTS_SHARED=str(shared),
               PYTHONPATH=os.path.join(ROOT, "tests"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "conftest", "-p", "no:xdist", "-p", "no:benchmark",
         "-rA", str(tmp_path / "test_reads.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = done.stdout
    assert "3 passed, 1 error" in out, out  # its teardown errs
    assert "ERROR test_reads.py::test_reads_in_a_thread" in out, out
    assert f"read ['{photo}'] from ../shared without asking" in out, out
