"""The benchmark command runs on the active backend and prints its table.

Only that it works and what it reports: speed is measured by running it,
never asserted in a test.
"""

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys

import keras
import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import lifecycle  # noqa: E402  (benchmarks/lifecycle.py)


def test_benchmark_prints_a_table_for_the_active_backend(tmp_path):
    """Through --all-backends (here only the active one): a process per
    backend, its tables into the Speed page's block for it."""
    out, readme = tmp_path / "bench.json", tmp_path / "README.md"
    backend = keras.backend.backend()
    readme.write_text(f"# x\n\n## Speed\n\nText.\n\n<!-- speed:{backend}:begin"
                      f" -->\nOLD\n<!-- speed:{backend}:end -->\n\n## Next\n")
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"),
         "--all-backends", backend,
         "--models", "MobileNetV3Small", "--impls", "keras_applications", "ours",
         "--size", "32", "--batch", "2", "--repeats", "1", "--latency-runs", "1",
         "--json", str(out), "--readme", str(readme)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()})
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Backend **{backend}**, batch 2, 32x32" in done.stdout
    row = [line for line in done.stdout.splitlines()
           if line.startswith("| MobileNetV3Small |")]
    assert len(row) == 1
    figures = json.loads(out.read_text())[backend]["MobileNetV3Small"]
    assert set(figures) == {"keras_applications", "ours"}
    for impl in figures.values():
        assert impl["images_per_s"] > 0 and impl["latency_ms"] > 0
        assert impl["peak_mib"] >= 0
    # Both count the same architecture: same MACs, which the table shows.
    assert figures["ours"]["macs"] == figures["keras_applications"]["macs"] > 0
    assert f"| {figures['ours']['macs'] / 1e9:.3f} |" in row[0]
    assert "Machine:" in done.stdout
    block = readme.read_text().split(f"<!-- speed:{backend}:begin -->\n")[1]
    block = block.split(f"\n<!-- speed:{backend}:end -->")[0]
    assert block == done.stdout.strip()
    assert "OLD" not in readme.read_text()


def test_benchmark_training_and_first_prediction_tables(tmp_path):
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    readme = tmp_path / "README.md"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"),
         "--models", "MobileNetV3Small", "--impls", "ours",
         "--measure", "train", "first_prediction", "--first-runs", "1",
         "--size", "32", "--batch", "2", "--repeats", "1",
         "--json", str(out), "--markdown", str(md)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()})
    assert done.returncode == 0, done.stderr[-2000:]
    backend = keras.backend.backend()
    assert f"Training, backend **{backend}**" in done.stdout
    assert f"Time to first prediction, backend **{backend}**" in done.stdout
    assert md.read_text().strip() == done.stdout.strip()
    figures = json.loads(out.read_text())
    train = figures["train"]["MobileNetV3Small"]
    assert set(train) == {"ours"} and train["ours"]["train_images_per_s"] > 0
    first = figures["first_prediction"]["MobileNetV3Small"]["ours"]
    parts = first["import_s"] + first["build_load_s"] + first["predict_s"]
    assert first["build_load_s"] > 0 and first["predict_s"] > 0
    assert abs(parts - first["total_s"]) < 1e-6
    # --readme puts the tables between this backend's markers, once.
    readme.write_text("# x\n\n## Speed\n\nText.\n\n## Next\n")
    lifecycle.write_readme(str(readme), backend, "TABLE 1")
    lifecycle.write_readme(str(readme), backend, "TABLE 2")
    text = readme.read_text()
    assert text.count(f"<!-- speed:{backend}:begin -->") == 1
    assert "TABLE 2" in text and "TABLE 1" not in text
    assert text.index("TABLE 2") < text.index("## Next")


@pytest.mark.skipif(keras.backend.backend() != "jax", reason=(
    "the README's training table is written by the parent process whatever "
    "the backends: checked once, under JAX"))
def test_training_summary_goes_into_the_readme(tmp_path):
    """`--all-backends ... --measure train --training-summary PATH`: one
    table, a row per model and backend, between the README's training
    markers; the README holds those markers once."""
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- speed:training:begin -->\nOLD\n"
                      "<!-- speed:training:end -->\n\n## Next\n")
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"),
         "--all-backends", "jax", "--models", "MobileNetV3Small",
         "--impls", "ours", "--measure", "train", "--size", "32",
         "--batch", "2", "--repeats", "1", "--training-summary", str(readme)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr[-2000:]
    text = readme.read_text()
    assert "OLD" not in text and text.endswith("\n\n## Next\n")
    rows = [line.split(" | ") for line in text.splitlines()
            if line.startswith("| MobileNetV3Small |")]
    assert len(rows) == 1 and rows[0][1] == "jax"
    assert float(rows[0][3]) > 0 and rows[0][2] == "-"
    assert "at batch 2, 32x32" in text and "Machine:" in text
    project = open(os.path.join(ROOT, "README.md")).read()
    for marker in ("begin", "end"):
        assert project.count(f"<!-- speed:training:{marker} -->") == 1


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="an A/B of JAX compile settings")
def test_jax_ab_compares_variants_with_the_same_results(capsys):
    """`benchmarks/jax_ab.py`: every variant compiled, timed in turn, and
    the gradients with our options and with JAX's own differentiation of
    our kernels equal those of JAX's default options."""
    import jax_ab

    times = jax_ab.main(["MobileNetV3Small", "--size", "32", "--batch", "2",
                         "--rounds", "1", "--variants", "default", "options",
                         "no-custom-gradients"])
    assert {k: len(v) for k, v in times.items()} == {
        "default": 2, "options": 2, "no-custom-gradients": 2}
    out = capsys.readouterr().out
    diffs = [float(line.rsplit(": ", 1)[1]) for line in out.splitlines()
             if "max difference from default" in line]
    assert len(diffs) == 3 and max(diffs) < 1e-4, out
    assert "| no-custom-gradients |" in out
    from keras_mobilenets.fast import shifted

    assert shifted.CUSTOM_GRADIENTS  # put back


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="the driver is the same on every backend; one "
                           "backend's workers show it")
def test_before_after_puts_two_checkouts_side_by_side(tmp_path):
    """`benchmarks/before_after.py`: a worker per checkout per round, each
    importing the package from its own tree; a checkout that would import
    another tree's package is refused."""
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "before_after.py"),
         "--before", ROOT, "--backends", "jax", "--models", "MobileNetV3Small",
         "--measure", "inference", "--rounds", "1", "--repeats", "1",
         "--latency-runs", "1", "--size", "32", "--batch", "2", "--no-timm"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split(" | ") for line in done.stdout.splitlines()
            if line.startswith("| MobileNetV3Small | jax |")]
    assert [row[2] for row in rows] == ["inference", "batch 1, ms"]
    assert all(float(row[3]) > 0 and float(row[4]) > 0 and row[5] == "-"
               for row in rows), done.stdout
    assert sum('"ours"' in line for line in done.stderr.splitlines()) == 2
    assert "Machine: " in done.stdout
    refused = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "before_after.py"),
         "--before", str(tmp_path), "--backends", "jax", "--no-timm"],
        capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0
    assert f"--before/--after {str(tmp_path)!r}: a worker imports" in refused.stderr


def test_speed_page_holds_the_blocks_that_run_py_writes(tmp_path):
    """`run.py --readme` writes docs/speed.md by default: every block is
    there once; a page without a `## Speed` section gets new blocks at its
    end."""
    page = open(os.path.join(ROOT, "docs", "speed.md")).read()
    for block in ("tensorflow", "jax", "torch", "deployment"):
        assert page.count(f"<!-- speed:{block}:begin -->") == 1, block
        assert page.count(f"<!-- speed:{block}:end -->") == 1, block
    run_py = open(os.path.join(ROOT, "benchmarks", "run.py")).read()
    assert '"docs", "speed.md"' in run_py and "const=SPEED_PAGE" in run_py
    speed = tmp_path / "speed.md"
    speed.write_text("# Speed\n\nText.\n")
    lifecycle.write_readme(str(speed), "jax", "TABLE")
    assert speed.read_text() == ("# Speed\n\nText.\n\n<!-- speed:jax:begin -->"
                                 "\nTABLE\n<!-- speed:jax:end -->\n")


def segmentation_benchmark():
    """benchmarks/segmentation.py, loaded under a name of its own (apart
    from keras_mobilenets.segmentation)."""
    spec = importlib.util.spec_from_file_location(
        "segmentation_benchmark",
        os.path.join(ROOT, "benchmarks", "segmentation.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torchvision_python():
    """$TIMM_PYTHON or ../timm-venv's Python where it imports torchvision
    (fixture_scripts/README.md's reference environment), else None."""
    for python in (os.environ.get("TIMM_PYTHON"),
                   os.path.join(ROOT, "..", "timm-venv", "bin", "python")):
        if python and os.path.exists(python) and subprocess.run(
                [python, "-c", "import torchvision"],
                capture_output=True).returncode == 0:
            return python
    return None


def speed_rows(stdout):
    """{(backbone, head): cells after those two} of the speed table."""
    rows = {}
    for line in stdout.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[(cells[0].strip("`"), cells[1].strip("`"))] = cells[2:]
    return rows


def test_segmentation_table_row_is_the_docs_and_speed_runs():
    script = os.path.join(ROOT, "benchmarks", "segmentation.py")
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    done = subprocess.run(
        [sys.executable, script, "--heads", "LRASPP", "--backbones",
         "MobileNetV4ConvSmall"], capture_output=True, text=True,
        timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    row = [line for line in done.stdout.splitlines()
           if line.startswith("| `MobileNetV4ConvSmall` | `LRASPP` |")]
    assert len(row) == 1
    page = open(os.path.join(ROOT, "docs", "features-segmentation.md")).read()
    assert row[0] in page.split("## Segmentation")[1]
    # Ours alone (torchvision has no dilated-8 model): its images/s, "-"
    # for the reference.
    done = subprocess.run(
        [sys.executable, script, "--speed", "--heads", "DeepLabV3",
         "--backbones", "MobileNetV3Small", "--size", "64", "--batch", "1",
         "--repeats", "1", "--output-stride", "8"], capture_output=True,
        text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = speed_rows(done.stdout)
    assert list(rows) == [("MobileNetV3Small", "DeepLabV3")]
    stride, ours, theirs, ratio = rows[("MobileNetV3Small", "DeepLabV3")]
    assert stride == "8" and float(ours) > 0 and theirs == ratio == "-"
    assert (f"Backend **{keras.backend.backend()}**, batch 1, 64x64"
            in done.stdout)
    assert ("`KERAS_BACKEND=" + keras.backend.backend() + " python benchmarks/"
            "segmentation.py --speed --heads DeepLabV3") in done.stdout
    assert "Machine:" in done.stdout


def test_segmentation_speed_table_puts_ours_beside_torchvision():
    bench = segmentation_benchmark()
    args = argparse.Namespace(batch=4, size=512, repeats=5, output_stride=16)
    text = bench.speed_table(
        [("MobileNetV3Large", "LRASPP", 3.0, {"images_per_s": 1.5}),
         ("MobileNetV4ConvSmall", "LRASPP", 12.345, None)],
        "torch", args, "KERAS_BACKEND=torch python x", "Machine: m.")
    lines = text.splitlines()
    assert lines[0].startswith("Backend **torch**, batch 4, 512x512, ")
    assert "best of 5 calls" in lines[0]
    assert lines[0].endswith("`KERAS_BACKEND=torch python x`")
    assert lines[2] == ("| backbone | head | output stride | ours img/s "
                        "| torchvision img/s | ours / torchvision |")
    assert lines[4] == "| `MobileNetV3Large` | `LRASPP` | 16 | 3.00 | 1.50 | 2.00x |"
    assert lines[5] == "| `MobileNetV4ConvSmall` | `LRASPP` | 16 | 12.35 | - | - |"
    assert lines[-1] == "Machine: m."
    # The networks torchvision builds, at its own output stride.
    assert bench.REFERENCE == {
        ("MobileNetV3Large", "LRASPP"): "lraspp_mobilenet_v3_large",
        ("MobileNetV3Large", "DeepLabV3"): "deeplabv3_mobilenet_v3_large"}
    assert bench.REFERENCE_STRIDE == 16


def test_segmentation_speed_times_torchvision_beside_ours():
    """Ours on the active backend, torchvision in the reference Python; the
    command checks that both have the same parameters (the same network)."""
    python = torchvision_python()
    if python is None:
        pytest.skip("no Python with torchvision: set TIMM_PYTHON or make "
                    "../timm-venv (fixture_scripts/README.md)")
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "segmentation.py"),
         "--speed", "--backbones", "MobileNetV3Large", "--heads", "LRASPP",
         "DeepLabV3", "--size", "64", "--batch", "1", "--repeats", "1",
         "--reference", python], capture_output=True, text=True,
        timeout=600, env={**os.environ,
                          "KERAS_BACKEND": keras.backend.backend()})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = speed_rows(done.stdout)
    assert set(rows) == {("MobileNetV3Large", "LRASPP"),
                         ("MobileNetV3Large", "DeepLabV3")}
    for stride, ours, theirs, ratio in rows.values():
        assert stride == "16" and float(ours) > 0 and float(theirs) > 0
        assert ratio.endswith("x") and math.isclose(
            float(ratio[:-1]), float(ours) / float(theirs), rel_tol=0.01,
            abs_tol=0.01)
    assert "torchvision side: torchvision " in done.stdout


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the "
                    "export runs under TensorFlow whatever the active "
                    "backend; measured once, in the TensorFlow run")
def test_deployment_exports_and_times_each_runtime(tmp_path):
    for module in ("ai_edge_litert", "onnxruntime", "tf2onnx", "onnx"):
        pytest.importorskip(module, reason=f"the deployment measure needs {module}")
    out, readme = tmp_path / "bench.json", tmp_path / "README.md"
    readme.write_text("# x\n\n## Speed\n\nText.\n\n## Next\n")
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"),
         "--models", "MobileNetV3Small", "--impls", "ours",
         "--measure", "deployment", "--size", "32", "--batch", "2",
         "--repeats", "1", "--latency-runs", "1", "--json", str(out),
         "--readme", str(readme)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())["deployment"]["MobileNetV3Small"]
    assert set(rows) == {"litert_float32", "litert_int8", "onnxruntime",
                         "keras_tensorflow"}
    for figures in rows.values():
        assert 0 < figures["images_per_s"] < math.inf
        assert 0 < figures["latency_ms"] < math.inf
    # The float files compute the Keras model's outputs; int8 is a quarter
    # of float32's size (one byte a weight).
    assert rows["litert_float32"]["max_abs_diff"] < 1e-5
    assert rows["onnxruntime"]["max_abs_diff"] < 1e-5
    assert rows["litert_int8"]["file_mb"] < 0.4 * rows["litert_float32"]["file_mb"]
    assert "Deployment, batch 2, 32x32" in done.stdout
    text = readme.read_text()
    assert text.count("<!-- speed:deployment:begin -->") == 1
    block = text.split("<!-- speed:deployment:begin -->\n")[1]
    assert block.startswith("Deployment, batch 2") and "Machine:" in block
    assert "| MobileNetV3Small |" in block
    assert text.index("speed:deployment:end") < text.index("## Next")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tf2onnx is the TensorFlow backend's exporter")
def test_deployment_freezes_v4_normalization_into_the_onnx_file(tmp_path):
    """tf2onnx leaves V4's Normalization constants as graph inputs
    (test_export.py's xfail); keras_mobilenets.export (the deployment
    measure's and `keras-mobilenets export`'s) writes them back, and the
    file then computes the Keras model's logits."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    import numpy as np

    import keras_mobilenets as km
    from conftest import model_outputs, randomize
    from keras_mobilenets.export import freeze_normalization

    model = km.MobileNetV4ConvSmall(weights=None, input_shape=(64, 64, 3),
                                    alpha=0.5, classifier_activation=None)
    randomize(model)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    want = model_outputs(model, x)
    path = str(tmp_path / "model.onnx")
    model.export(path, format="onnx", verbose=False)
    assert len(onnxruntime.InferenceSession(path).get_inputs()) == 3
    freeze_normalization(path, model)
    session = onnxruntime.InferenceSession(path)
    (graph_input,) = session.get_inputs()
    got = session.run(None, {graph_input.name: x})[0]
    diff = np.abs(got - want).max()
    print(f"ONNX V4 with its Normalization frozen: max abs diff {diff:.2e} "
          f"(logits up to {np.abs(want).max():.1f})")
    assert diff <= 1e-4 and np.abs(want).max() > 1


def test_gpu_benchmark_reports_what_it_measured_within_its_budget(tmp_path):
    """benchmarks/gpu.py (made for a lent GPU; here on the CPU): one worker
    for the active backend, its figures in gpu.json and the ratio table.
    Run on PyTorch only (the backend of the GPU plan)."""
    backend = keras.backend.backend()
    if backend != "torch":
        pytest.skip("the GPU benchmark's driver runs on torch here only")
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "gpu.py"),
         "--out", str(tmp_path), "--budget", "300", "--workers", f"{backend}:float32",
         "--models", "MobileNetV3Small", "--size", "32", "--repeats", "1",
         "--latency-runs", "1", "--batches", "1", "2", "3"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((tmp_path / "gpu.json").read_text())["rows"]
    got = {(r["impl"], r["measure"], r["batch"]) for r in rows}
    assert got == {(impl, measure, batch) for impl in ("ours", "keras_applications")
                   for measure, batch in (("predict", 1), ("predict", 2),
                                          ("predict", 3), ("train", 2))}
    assert all(r["backend"] == backend and r["images_per_s"] > 0 for r in rows)
    table = (tmp_path / "gpu.md").read_text()
    line = [x for x in table.splitlines() if "| predict | 2 |" in x]
    assert len(line) == 1 and line[0].count("x |") == 1  # ours / keras.applications
