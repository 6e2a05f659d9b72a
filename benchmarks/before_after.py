"""This checkout's speed beside another checkout's (an earlier commit) and
timm's, in one run.

    git worktree add ../before cb66625
    TIMM_PYTHON=../timm-venv/bin/python python benchmarks/before_after.py \
        --before ../before --backends tensorflow jax torch \
        --models MobileNetV4ConvSmall MobileNetV4ConvMedium --measure train inference

For each backend, model and measure, each of --rounds runs `measure.py`'s
worker (this checkout's) for `ours` from the --before tree, then from this
one, then timm's (when a Python can import it), each in a fresh process, so
that the machine's load changes reach all three alike. A figure is the
median over the rounds of each process's best call: images/s at --batch
(`train_on_batch` steps with `--measure train`, `predict_on_batch` calls
with `inference`) and, for inference, ms at batch 1. Prints one Markdown
table and the machine it ran on.
"""

import argparse
import os
import statistics
import subprocess
import sys

import run

MEASURES = {"train": "train_images_per_s", "inference": "images_per_s"}


def tree_env(tree, backend):
    """A worker's environment that imports `keras_mobilenets` from `tree`."""
    env = run.worker_env()
    env["PYTHONPATH"] = os.pathsep.join([os.path.abspath(tree), env["PYTHONPATH"]])
    env["KERAS_BACKEND"] = backend
    return env


def check_tree(tree, backend):
    """Fails unless a worker would import the package from `tree`."""
    found = subprocess.run(
        [sys.executable, "-c", "import keras_mobilenets; print(keras_mobilenets.__file__)"],
        capture_output=True, text=True, env=tree_env(tree, backend),
        cwd=run.HERE).stdout.strip()  # as a worker: no checkout's root first
    if not found.startswith(os.path.join(os.path.abspath(tree), "")):
        raise SystemExit(f"--before/--after {tree!r}: a worker imports "
                         f"keras_mobilenets from {found!r}, not from that tree")


def worker(python, env, model, measure, args, impl="ours", extra=()):
    """One implementation's figures from a fresh `measure.py` process."""
    extra = (*extra, "--train") if measure == "train" else extra
    return run.measure(python, model, [impl], args, *extra, env=env)["results"][impl]


def compare(backend, model, measure, args, timm, timm_name):
    """{"before"|"after"|"timm": [figures of each round]}."""
    sides = {"before": tree_env(args.before, backend),
             "after": tree_env(args.after, backend)}
    found = {side: [] for side in (*sides, "timm")}
    for _ in range(args.rounds):
        for side, env in sides.items():
            found[side].append(worker(sys.executable, env, model, measure, args))
        if timm and timm_name:
            found["timm"].append(worker(timm, None, model, measure, args,
                                        "timm", ("--timm-name", timm_name)))
    return found


def median(figures, key):
    return statistics.median(f[key] for f in figures) if figures else None


def table(rows, args):
    """Markdown: one row per backend, model and measure."""
    def cell(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        f"images/s at batch {args.batch}, {args.size}x{args.size} (median over "
        f"{args.rounds} rounds of each process's best of {args.repeats}); "
        f"before: `{args.before}`, after: `{args.after}`. Ratios >1: the "
        "first faster.", "",
        "| model | backend | measure | before | after | timm | after / before "
        "| before / timm | after / timm |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|"]
    for backend, model, measure, found in rows:
        key = MEASURES[measure]
        b, a, t = (median(found[side], key) for side in ("before", "after", "timm"))
        lines.append(f"| {model} | {backend} | {measure} | {cell(b)} | {cell(a)} "
                     f"| {cell(t)} | {run.ratio(a, b)} | {run.ratio(b, t)} | {run.ratio(a, t)} |")
        if measure == "inference":
            b, a, t = (median(found[side], "latency_ms")
                       for side in ("before", "after", "timm"))
            # ms: lower is faster, so the ratios are turned round.
            lines.append(f"| {model} | {backend} | batch 1, ms | {cell(b)} | "
                         f"{cell(a)} | {cell(t)} | {run.ratio(b, a)} | {run.ratio(t, b)} "
                         f"| {run.ratio(t, a)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True,
                        help="a checkout of this repository to compare with")
    parser.add_argument("--after", default=os.path.dirname(run.HERE),
                        help="the checkout compared (default: this one)")
    parser.add_argument("--backends", nargs="+", default=["jax"],
                        choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--models", nargs="+", default=["MobileNetV4ConvSmall"])
    parser.add_argument("--measure", nargs="+", default=["train"],
                        choices=sorted(MEASURES))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=10)
    parser.add_argument("--timm-python",
                        help="a Python that imports timm (default: $TIMM_PYTHON)")
    parser.add_argument("--no-timm", action="store_true")
    args = parser.parse_args(argv)
    from keras_mobilenets import registry

    timm = None if args.no_timm else run.timm_python(args.timm_python)
    rows = []
    for backend in args.backends:
        for tree in (args.before, args.after):
            check_tree(tree, backend)
        for model in args.models:
            timm_name = registry.get(model).timm_name
            for measure in args.measure:
                rows.append((backend, model, measure, compare(
                    backend, model, measure, args, timm, timm_name)))
    print(table(rows, args))
    versions = {f["versions"] for *_, found in rows for f in found["timm"]}
    print(f"\nMachine: {run.machine()}."
          + "".join(f" timm side: {v}." for v in sorted(versions)))


if __name__ == "__main__":
    main()
