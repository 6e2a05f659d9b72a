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
