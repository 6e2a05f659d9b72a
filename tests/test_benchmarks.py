"""The benchmark command runs on the active backend and prints its table.

Only that it works and what it reports: speed is measured by running it,
never asserted in a test.
"""

import json
import os
import subprocess
import sys

import keras

from conftest import ROOT


def test_benchmark_prints_a_table_for_the_active_backend(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"),
         "--models", "MobileNetV3Small", "--impls", "keras_applications", "ours",
         "--size", "32", "--batch", "2", "--repeats", "1", "--latency-runs", "1",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()})
    assert done.returncode == 0, done.stderr[-2000:]
    backend = keras.backend.backend()
    assert f"Backend **{backend}**, batch 2, 32x32" in done.stdout
    row = [line for line in done.stdout.splitlines()
           if line.startswith("| MobileNetV3Small |")]
    assert len(row) == 1
    figures = json.loads(out.read_text())["MobileNetV3Small"]
    assert set(figures) == {"keras_applications", "ours"}
    for impl in figures.values():
        assert impl["images_per_s"] > 0 and impl["latency_ms"] > 0
        assert impl["peak_mib"] >= 0
    # Both count the same architecture: same MACs, which the table shows.
    assert figures["ours"]["macs"] == figures["keras_applications"]["macs"] > 0
    assert f"| {figures['ours']['macs'] / 1e9:.3f} |" in row[0]
    assert "Machine:" in done.stdout
