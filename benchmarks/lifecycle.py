"""run.py's training-step and first-prediction measurements and tables,
and docs/speed.md (`--readme`)."""

import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def measure_training(name, impls, args, timm, timm_name, measure):
    """{impl: figures} of training steps: the Keras implementations in turn
    in one process, timm in its own."""
    keras_impls = [i for i in impls if i in ("keras_applications", "ours")]
    rows = {}
    if keras_impls:
        rows.update(measure(sys.executable, name, keras_impls, args,
                            "--train")["results"])
    if "timm" in impls and timm and timm_name:
        rows.update(measure(timm, name, ["timm"], args, "--train",
                            "--timm-name", timm_name)["results"])
    return rows


def _first_command(python, impl, name, args, timm_name, *extra):
    command = [python, os.path.join(HERE, "first_prediction.py"), "--impl",
               impl, "--model", name, "--alpha", str(args.alpha),
               "--size", str(args.size), *extra]
    if args.no_top:
        command.append("--no-top")
    if impl == "timm":
        command += ["--timm-name", timm_name]
    return command


def first_predictions(name, impls, args, timm, timm_name, run_worker):
    """{impl: median seconds of each step} over --first-runs fresh
    processes per implementation, run in turn, every one with the same
    weights file and no JAX compilation cache."""
    impls = [i for i in impls if i != "ours_folded"
             and (i != "timm" or (timm and timm_name))]
    weights = args.weights_file
    tmp = tempfile.TemporaryDirectory()
    if weights is None:  # random weights, written once, loaded by every run
        maker = "timm" if "timm" in impls else "ours"
        weights = os.path.join(tmp.name, name + (
            ".safetensors" if maker == "timm" else ".h5"))
        python = timm if maker == "timm" else sys.executable
        run_worker(_first_command(python, maker, name, args, timm_name,
                                  "--save", weights),
                   f"writing weights of {name}")
    runs = {impl: [] for impl in impls}
    with tmp:
        for _ in range(args.first_runs):
            for impl in impls:
                python = timm if impl == "timm" else sys.executable
                runs[impl].append(run_worker(
                    _first_command(python, impl, name, args, timm_name,
                                   "--weights", weights),
                    f"first prediction of {impl} {name}", jax_cache=False))
    return {impl: {key: statistics.median(r[key] for r in done)
                   for key in ("import_s", "build_load_s", "predict_s", "total_s")}
            | {"totals_s": sorted(r["total_s"] for r in done)}
            for impl, done in runs.items()}


def _ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def _get(row, *keys):
    for key in keys:
        row = (row or {}).get(key)
    return row


def train_table(rows, backend, args):
    out = [
        f"Training, backend **{backend}**: `train_on_batch` (SGD, sparse "
        f"cross-entropy) at batch {args.batch}, {args.size}x{args.size}, "
        f"best of {args.repeats} steps; timm (PyTorch): forward, loss, "
        "backward and `optimizer.step()`, in the faster of its memory "
        "formats.",
        "",
        "| model | k.a. img/s | ours img/s | ours / k.a. | timm img/s "
        "| ours / timm |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, r in rows.items():
        ref, ours, timm = (_get(r, k, "train_images_per_s") for k in (
            "keras_applications", "ours", "timm"))
        out.append(" | ".join([
            f"| {name}", *(f"{v:.1f}" if v else "-" for v in (ref, ours)),
            _ratio(ours, ref), f"{timm:.1f}" if timm else "-",
            _ratio(ours, timm) + " |"]))
    return "\n".join(out)


def training_summary(by_backend, args, machine):
    """One table of training steps over every backend measured (README's
    "Training speed"): a row per model and backend, ours beside
    keras.applications (V1-V3) and timm (PyTorch, measured in each
    backend's run, right after ours)."""
    out = [
        f"{time.strftime('%Y-%m-%d')}: "
        f"`train_on_batch` (SGD, sparse cross-entropy over 1000 classes) at "
        f"batch {args.batch}, {args.size}x{args.size}, images/s, best of "
        f"{args.repeats} steps; keras.applications' model of the same "
        "architecture in turn in the same process; timm: forward, loss, "
        "backward and `optimizer.step()` in its own process right after "
        "(the faster of its memory formats). Ratios >1: ours faster.",
        "",
        "| model | backend | keras.applications | ours | timm "
        "| ours / k.a. | ours / timm |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    models = list(dict.fromkeys(m for rows in by_backend.values() for m in rows))
    for name in models:
        for backend, rows in by_backend.items():
            ref, ours, timm = (_get(rows.get(name), k, "train_images_per_s")
                               for k in ("keras_applications", "ours", "timm"))
            out.append(" | ".join([
                f"| {name}", backend,
                *(f"{v:.1f}" if v else "-" for v in (ref, ours, timm)),
                _ratio(ours, ref), _ratio(ours, timm) + " |"]))
    return "\n".join(out + ["", machine])


def _steps(row):
    if not row:
        return "-"
    return (f"{row['total_s']:.1f} ({row['import_s']:.1f} + "
            f"{row['build_load_s']:.1f} + {row['predict_s']:.1f})")


def first_table(rows, backend, args):
    out = [
        f"Time to first prediction, backend **{backend}**: a fresh process "
        "imports the library, builds the model with weights from a local "
        f"file and predicts one {args.size}x{args.size} image; seconds, "
        f"median of {args.first_runs} processes each, run in turn: total "
        "(import + build and load + first predict). No JAX compilation "
        "cache. Importing Keras is the same work for both; after import: "
        "build, load and predict.",
        "",
        "| model | k.a. s | ours s | ours / k.a. | after import: ours / k.a. "
        "| timm s |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, r in rows.items():
        ref, ours, timm = (r.get(k) for k in ("keras_applications", "ours", "timm"))

        def after(x):
            return x and x["total_s"] - x["import_s"]

        out.append(" | ".join([
            f"| {name}", _steps(ref), _steps(ours),
            _ratio(_get(ours, "total_s"), _get(ref, "total_s")),
            _ratio(after(ours), after(ref)), _steps(timm) + " |"]))
    return "\n".join(out)


def write_readme(path, backend, text):
    """Puts `text` between this backend's markers in docs/speed.md (or a
    page's Speed section), adding the markers at the section's end (the
    page's, where it has no `## Speed`) the first time."""
    begin = f"<!-- speed:{backend}:begin -->"
    end = f"<!-- speed:{backend}:end -->"
    with open(path) as f:
        readme = f.read()
    block = f"{begin}\n{text}\n{end}"
    if begin in readme and end in readme:
        head, rest = readme.split(begin, 1)
        readme = head + block + rest.split(end, 1)[1]
    else:
        start = readme.find("\n## Speed\n")
        stop = -1 if start < 0 else readme.find("\n## ", start + 1)
        stop = len(readme) if stop < 0 else stop
        readme = readme[:stop].rstrip("\n") + "\n\n" + block + "\n" + readme[stop:]
    with open(path, "w") as f:
        f.write(readme)
