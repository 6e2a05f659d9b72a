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
