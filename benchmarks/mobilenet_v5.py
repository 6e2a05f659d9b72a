"""MobileNetV5-300M's inference speed beside timm's, as Gemma 3n runs it
(batch 1 at 768x768) and as a batch of small images (batch 8 at 256x256).

    TIMM_PYTHON=/path/to/timm-venv/bin/python KERAS_BACKEND=tensorflow \
        python benchmarks/mobilenet_v5.py [--rounds 1] [--repeats 3]

For each setting, each of --rounds runs `measure.py`'s worker for ours
(random weights, this checkout) then for timm's `mobilenetv5_300m` (in the
Python of --timm-python / $TIMM_PYTHON, the faster of its memory formats),
each in a fresh process and always in that order, so that the machine's
load changes reach both alike. A figure is the median over the rounds of
each process's median `predict_on_batch` call (timm: its forward under
`torch.inference_mode`) after two warm-up calls. Prints one Markdown table
and the machine it ran on.
"""

import argparse
import os
import statistics
import subprocess
import sys

import run

MODEL, TIMM_NAME = "MobileNetV5_300M", "mobilenetv5_300m"
SETTINGS = ((1, 768), (8, 256))  # (batch, size)

# Declares the two torchvision ops that PyPI's torchvision wheel (built for
# CUDA torch) cannot load beside torch's CPU wheel; timm imports torchvision
# but never calls them (as fixture_scripts/make_v5_fixtures.py does).
TORCHVISION_OPS = """
import torch
for op in ("nms", "qnms"):
    try:
        torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor "
                             "scores, float iou_threshold) -> Tensor")
    except RuntimeError:  # a torchvision that loads its own ops
        pass
"""
# Then runs the script of argv[1] with the arguments after it.
TIMM_SHIM = TORCHVISION_OPS + """
import runpy, sys
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def timm_python(explicit):
    """A Python that imports timm (after `TORCHVISION_OPS`), or None."""
    for python in (explicit, os.environ.get("TIMM_PYTHON"), sys.executable):
        if python and subprocess.run(
                [python, "-c", TORCHVISION_OPS + "import timm"],
                capture_output=True).returncode == 0:
            return python
    return None


def timm_worker(python, setting):
    """timm's figures from a fresh `measure.py` process."""
    command = [python, "-c", TIMM_SHIM, os.path.join(run.HERE, "measure.py"),
               "--model", MODEL, "--impls", "timm", "--timm-name", TIMM_NAME,
               "--batch", str(setting.batch), "--size", str(setting.size),
               "--repeats", str(setting.repeats), "--latency-runs", "1"]
    return run.run_worker(command, f"timm {TIMM_NAME}")["results"]["timm"]


def median_call(figures):
    """The median call of one worker, in seconds."""
    return statistics.median(figures["batch_s"])


def compare(batch, size, args, timm):
    """{"ours"|"timm": [median seconds per call of each round]}."""
    setting = argparse.Namespace(batch=batch, size=size, repeats=args.repeats,
                                 latency_runs=1)
    found = {"ours": [], "timm": []}
    for _ in range(args.rounds):
        found["ours"].append(median_call(run.measure(
            sys.executable, MODEL, ["ours"], setting)["results"]["ours"]))
        if timm:
            result = timm_worker(timm, setting)
            found["timm"].append(median_call(result))
            found.setdefault("versions", set()).add(result["versions"])
    return found


def table(rows, args, backend):
    def ms(seconds):
        return "-" if seconds is None else f"{1000 * seconds:.0f}"

    lines = [
        f"{MODEL} (random weights), ms per call on the CPU: the median over "
        f"{args.rounds} round(s) of each process's median of {args.repeats} "
        f"calls; ours on Keras' {backend} backend, timm's `{TIMM_NAME}` in "
        "PyTorch. ours / timm > 1: ours slower.", "",
        "| batch | size | ours ms | timm ms | ours images/s | timm images/s "
        "| ours / timm |",
        "|--:|--:|--:|--:|--:|--:|--:|"]
    for (batch, size), found in rows:
        ours = statistics.median(found["ours"])
        timm = statistics.median(found["timm"]) if found["timm"] else None
        lines.append(
            f"| {batch} | {size} | {ms(ours)} | {ms(timm)} "
            f"| {batch / ours:.2f} | "
            + ("-" if timm is None else f"{batch / timm:.2f}")
            + f" | {run.ratio(ours, timm)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timm-python",
                        help="a Python that imports timm (default: $TIMM_PYTHON)")
    args = parser.parse_args(argv)
    import keras

    timm = timm_python(args.timm_python)
    if timm is None:
        print("timm not found (--timm-python, $TIMM_PYTHON): ours only",
              file=sys.stderr)
    rows = [((batch, size), compare(batch, size, args, timm))
            for batch, size in SETTINGS]
    print(table(rows, args, keras.backend.backend()))
    versions = set().union(*(found.get("versions", set()) for _, found in rows))
    print(f"\nMachine: {run.machine()}."
          + "".join(f" timm side: {v}." for v in sorted(versions)))


if __name__ == "__main__":
    main()
