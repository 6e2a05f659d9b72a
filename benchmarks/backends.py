"""run.py --all-backends: run.py's per-backend measures once per Keras
backend, each in its own process under KERAS_BACKEND."""

import json
import os
import subprocess
import sys
import tempfile

BACKENDS = ("tensorflow", "jax", "torch")
# What the parent does itself (the deployment measure, the outputs).
PARENT_ONLY = ("--all-backends", "--keras-backends", "--measure", "--json",
               "--markdown", "--readme", "--training-summary")


def without(argv, options):
    """`argv` less `options` and the values that follow each."""
    out, skipping = [], False
    for token in argv:
        if token.startswith("--"):
            skipping = token.split("=", 1)[0] in options
        if not skipping:
            out.append(token)
    return out


def run_each(script, argv, backends, measures):
    """{backend: (its figures, its tables)}: `script` (run.py) with `argv`
    and `measures`, once per backend, one after the other."""
    results = {}
    for backend in backends if measures else ():
        with tempfile.TemporaryDirectory() as tmp:
            figures, tables = (os.path.join(tmp, n) for n in ("rows.json", "rows.md"))
            command = [sys.executable, script, *without(argv, PARENT_ONLY),
                       "--measure", *measures, "--json", figures,
                       "--markdown", tables]
            done = subprocess.run(command, stdout=subprocess.DEVNULL,
                                  env={**os.environ, "KERAS_BACKEND": backend})
            if done.returncode != 0:
                raise SystemExit(f"run.py on {backend} failed (exit "
                                 f"{done.returncode})")
            with open(figures) as f, open(tables) as g:
                results[backend] = json.load(f), g.read().strip()
    return results
