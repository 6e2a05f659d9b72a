"""run.py's deployment measure: ours exported to LiteRT (float32 and int8)
and ONNX, each timed by its runtime, beside Keras and timm.

Also the two workers it runs, each in a fresh process:

    KERAS_BACKEND=tensorflow python benchmarks/deployment.py --export DIR \
        --model MobileNetV2 --size 224
    python benchmarks/deployment.py --time DIR --batch 32 --size 224

Export (always under the TensorFlow backend, whatever the active one: Keras
3.15 exports LiteRT only there, and int8 post-training quantization is
TensorFlow's LiteRT converter) through keras_mobilenets.export, as
`keras-mobilenets export` does: LiteRT float32, LiteRT int8 (calibrated
here on a few random images), and ONNX (tf2onnx, V4's in-model
Normalization constants written back into the file).

Timing: LiteRT's interpreter (XNNPACK, its default CPU delegate) with one
thread per CPU, its input resized to the batch; ONNX Runtime's
CPUExecutionProvider with one thread per CPU; all runtimes in turn in one
process as measure.py times the Keras models (best of --repeats at --batch,
median of --latency-runs at batch 1, after warm-up).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIMES = ("litert_float32", "litert_int8", "onnxruntime")
FILES = {"litert_float32": "float32.tflite", "litert_int8": "int8.tflite",
         "onnxruntime": "model.onnx"}
CALIBRATION_IMAGES = 8


def export(name, size, directory):
    """Writes FILES for ours (random weights) into `directory`; returns
    {runtime: file size in bytes} and {float runtime: max abs difference
    from the Keras model's outputs}."""
    import keras
    import numpy as np

    from keras_mobilenets import export as exporting
    from keras_mobilenets import registry

    exporting.require_tensorflow()
    entry = registry.get(name)
    model = entry.builder(weights=None, input_shape=(size, size, 3))
    calibration = entry.preprocess(np.random.default_rng(2).uniform(
        0, 255, (CALIBRATION_IMAGES, size, size, 3)).astype("float32"))
    model(calibration[:1], training=False)  # exporters want a called model
    path = {r: os.path.join(directory, f) for r, f in FILES.items()}
    exporting.export_litert(model, path["litert_float32"])
    exporting.export_litert(model, path["litert_int8"], calibration)
    exporting.export_onnx(model, path["onnxruntime"])
    # The float files' outputs against Keras' (a weak check with initial
    # weights, whose softmax is near uniform; test_benchmarks.py checks
    # the frozen Normalization on logits).
    want = keras.ops.convert_to_numpy(model(calibration, training=False))
    got = {"litert_float32": exporting.litert_runner(
        path["litert_float32"], len(calibration), size, 1)(calibration),
        "onnxruntime": exporting.onnx_runner(path["onnxruntime"], 1)(calibration)}
    return ({r: os.path.getsize(p) for r, p in path.items()},
            {r: float(np.abs(g - want).max()) for r, g in got.items()})


def time_files(directory, batch, size, repeats, latency_runs):
    """{runtime: figures}, the runtimes called in turn."""
    import numpy as np

    from keras_mobilenets import export as exporting
    from measure import interleaved

    threads = os.cpu_count()
    images = np.random.default_rng(0).uniform(
        0, 255, (batch, size, size, 3)).astype("float32")
    single = images[:1].copy()
    path = {r: os.path.join(directory, f) for r, f in FILES.items()}
    runs = {}
    for n, x in ((batch, images), (1, single)):
        runs[n] = {r: exporting.litert_runner(path[r], n, size, threads)
                   for r in ("litert_float32", "litert_int8")}
        runs[n]["onnxruntime"] = exporting.onnx_runner(
            path["onnxruntime"], threads)
        for r, run in runs[n].items():
            if run(x).shape[0] != n:
                raise SystemExit(f"{r} gave {run(x).shape[0]} outputs for {n}")
    throughput = interleaved(runs[batch], {r: images for r in RUNTIMES}, repeats)
    latency = interleaved(runs[1], {r: single for r in RUNTIMES}, latency_runs)
    return {r: {"images_per_s": batch / min(throughput[r]),
                "batch_s": sorted(throughput[r]),
                "latency_ms": 1000 * statistics.median(latency[r]),
                "threads": threads} for r in RUNTIMES}


def measure_deployment(name, args, timm, timm_name, run_worker, measure):
    """{impl: figures} of one model: the exported runtimes, ours on each of
    args.keras_backends, timm (V4) in the faster of its memory formats."""
    rows = {}
    with tempfile.TemporaryDirectory() as directory:
        script = os.path.join(HERE, "deployment.py")
        exported = run_worker(
            [sys.executable, script, "--export", directory, "--model", name,
             "--size", str(args.size)], f"exporting {name}",
            backend="tensorflow")
        rows.update(run_worker(
            [sys.executable, script, "--time", directory, "--size", str(args.size), "--batch", str(args.batch),
             "--repeats", str(args.repeats), "--latency-runs",
             str(args.latency_runs)], f"timing the exports of {name}"))
    for runtime, size in exported["file_bytes"].items():
        rows[runtime]["file_mb"] = size / 1e6
    for runtime, diff in exported["max_abs_diff"].items():
        rows[runtime]["max_abs_diff"] = diff
    for backend in args.keras_backends:
        done = measure(sys.executable, name, ["ours"], args, backend=backend)
        rows[f"keras_{backend}"] = done["results"]["ours"]
    if timm and timm_name:
        rows.update(measure(timm, name, ["timm"], args, "--timm-name",
                            timm_name)["results"])
    return rows


def _cell(row):
    if not row:
        return "-"
    return f"{row['images_per_s']:.1f} / {row['latency_ms']:.1f}"


def table(rows, args):
    backends = list(args.keras_backends)
    out = [
        f"Deployment, batch {args.batch}, {args.size}x{args.size}, random "
        f"weights: images/s (best of {args.repeats}) / ms at batch 1 "
        f"(median of {args.latency_runs}). Ours exported by `model.export` "
        "under the TensorFlow backend whatever the active one (LiteRT "
        "exists only there; ONNX by tf2onnx, V4's Normalization constants "
        "written back into the file): LiteRT's interpreter with XNNPACK "
        "(its default), ONNX Runtime's CPUExecutionProvider, one thread "
        "per CPU, the input resized to the batch; int8: post-training "
        f"quantization calibrated on {CALIBRATION_IMAGES} random images. "
        "The runtimes are timed in turn in one process; Keras (ours, one "
        "process per backend) and timm (V4, the faster of NCHW and "
        "channels_last) right after. MB: file size.",
        "",
        "| model | " + " | ".join(f"Keras {b}" for b in backends)
        + " | LiteRT float32 | LiteRT int8 | ONNX Runtime | timm (torch) "
        "| ONNX Runtime / best Keras | MB float32 / int8 / ONNX |",
        "|---|" + "--:|" * (len(backends) + 6),
    ]
    for name, r in rows.items():
        keras = [r.get(f"keras_{b}") for b in backends]
        best = max((k["images_per_s"] for k in keras if k), default=None)
        ort = r.get("onnxruntime", {}).get("images_per_s")
        timm = r.get("timm")
        out.append(" | ".join([
            f"| {name}", *(_cell(k) for k in keras),
            *(_cell(r.get(x)) for x in RUNTIMES),
            _cell(timm) + (f" ({timm['memory_format']})" if timm else ""),
            f"{ort / best:.2f}x" if ort and best else "-",
            " / ".join(f"{r[x]['file_mb']:.1f}" for x in RUNTIMES) + " |"]))
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--export", metavar="DIR")
    mode.add_argument("--time", metavar="DIR")
    parser.add_argument("--model", help="--export: the model")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=10)
    args = parser.parse_args(argv)
    if args.export:
        sizes, diffs = export(args.model, args.size, args.export)
        result = {"file_bytes": sizes, "max_abs_diff": diffs}
    else:
        result = time_files(args.time, args.batch, args.size,
                            args.repeats, args.latency_runs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
