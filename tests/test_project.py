"""The README's set-up commands and CI stay in sync; the package's
comments and docstrings quote no timings (they belong in docs/speed.md)."""

import ast
import io
import os
import re
import tokenize

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


# A timing: a number (or numbers: "282 -> 190", "158, 673 and 596") and a
# unit of time or throughput, or a ratio of speeds ("1.7x as fast",
# "4-5x faster", "0.48x timm").
_NUMBER = r"\d+(?:\.\d+)?"
TIMING = re.compile(
    rf"\b{_NUMBER}(?:\s*(?:,|->|-|to|vs\.?|and|instead of|of a|of)\s*"
    rf"{_NUMBER})*\s*(?:ms|µs|us|ns|s|secs?|seconds?|minutes?|hours?)\b"
    rf"|\b{_NUMBER}(?:-{_NUMBER})?x\s+(?:as\s+(?:fast|long)|faster|slower"
    rf"|timm|keras)\b"
    rf"|\b{_NUMBER}\s*(?:img|images|it)/s\b")


def _prose(source):
    """(line, text) of every comment and docstring of `source`."""
    found = [(t.start[0], t.string) for t in tokenize.generate_tokens(
        io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append((node.body[0].lineno, doc))
    return found


def _timings(source):
    return [(line, m.group(0)) for line, text in _prose(source)
            for m in TIMING.finditer(" ".join(text.split()))]


def test_no_timings_in_the_package_comments_and_docstrings():
    """A figure measured on one machine goes stale in a docstring: it
    belongs in docs/speed.md, with its machine."""
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, "keras_mobilenets")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found += [(os.path.relpath(path, ROOT), line, text)
                          for line, text in _timings(open(path).read())]
    assert found == [], found
    # ... and the check sees them: in a docstring, over a line break, and
    # in a comment; not in code, nor a figure that is no timing.
    sample = ('"""Took 54 ms against\n13 ms; ran 1.7x as fast."""\n'
              "x = 3  # 282 -> 190 ms at batch 32\n"
              'y = "12 ms"  # a 3x3 kernel, 2x downsampled, 32 channels\n')
    assert [t for _, t in _timings(sample)] == [
        "282 -> 190 ms", "54 ms", "13 ms", "1.7x as fast"]
