"""Speed of every model on the active Keras backend, beside its reference.

    KERAS_BACKEND=jax python benchmarks/run.py [--models MobileNetV2 ...]

For each model, in the same run: keras.applications' model of the same
architecture (V1-V3), ours, ours with BatchNorm folded
(`keras_mobilenets.fold_batch_norm`), and timm's PyTorch model (V4) when
timm can be imported by this Python or by `--timm-python` / $TIMM_PYTHON.
Each is measured in a fresh process (`measure.py`), one after the other,
with random weights and inputs at --size. Prints a Markdown table of
images/s at --batch, ms at batch 1, peak memory, achieved GMAC/s
(`keras_mobilenets.count_macs`) and the ratios, then the machine it ran on.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

import backends
import deployment
import lifecycle

HERE = os.path.dirname(os.path.abspath(__file__))
SPEED_PAGE = os.path.join(os.path.dirname(HERE), "docs", "speed.md")
README = os.path.join(os.path.dirname(HERE), "README.md")
REFERENCE_V1_V3 = ("MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large")


def timm_python(explicit):
    """A Python that can import timm, or None."""
    for python in (explicit, os.environ.get("TIMM_PYTHON"), sys.executable):
        if python and subprocess.run(
                [python, "-c", "import timm"], capture_output=True).returncode == 0:
            return python
    return None


def worker_env(jax_cache=True):
    """The environment of a worker: this checkout importable; JAX's disk
    cache of compiled programs shared by the workers (saves compiling the
    same initialisers in each), except where compiling is what is timed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [os.path.dirname(HERE), env.get("PYTHONPATH")]))
    keys = ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")
    if jax_cache:
        env.setdefault(keys[0], os.path.join(
            os.path.expanduser("~"), ".cache", "keras_mobilenets_benchmarks_jax"))
        env.setdefault(keys[1], "0")
    else:
        for key in keys:
            env.pop(key, None)
    return env


def run_worker(command, what, jax_cache=True, backend=None, env=None):
    """The last JSON line a worker printed (under KERAS_BACKEND=`backend`
    where given; in `env` where given, else `worker_env`'s)."""
    env = dict(env or worker_env(jax_cache))
    if backend:
        env["KERAS_BACKEND"] = backend
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{what} failed (exit {done.returncode})")
    print(lines[-1], file=sys.stderr, flush=True)
    return json.loads(lines[-1]) if lines else None


def measure(python, model, impls, args, *extra, backend=None, env=None):
    command = [python, os.path.join(HERE, "measure.py"), "--model", model,
               "--impls", *impls, "--batch", str(args.batch),
               "--size", str(args.size), "--repeats", str(args.repeats),
               "--latency-runs", str(args.latency_runs), *extra]
    return run_worker(command, f"{' '.join(impls)} {model}", backend=backend,
                      env=env)


def impls_of(name, args):
    """The implementations of --impls that exist for this model."""
    return [i for i in args.impls
            if i != "keras_applications" or name in REFERENCE_V1_V3]


def measure_model(name, args, timm, timm_name):
    """{impl: figures} for one model: the Keras implementations timed in
    turn in one process, timm in its own, peak memory one process each."""
    keras_impls = [i for i in impls_of(name, args) if i != "timm"]
    rows, backend = {}, None
    if keras_impls:
        done = measure(sys.executable, name, keras_impls, args)
        rows.update(done["results"])
        backend = done["backend"]
    if "timm" in args.impls and timm and timm_name:
        rows.update(measure(timm, name, ["timm"], args,
                            "--timm-name", timm_name)["results"])
    for impl in rows:
        if impl == "ours_folded":
            continue  # built from ours: its peak would include ours
        python, extra = (timm, ["--timm-name", timm_name]) if impl == "timm" \
            else (sys.executable, [])
        rows[impl]["peak_mib"] = measure(
            python, name, [impl], args, "--memory", *extra)["peak_mib"]
    return rows, backend


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f
                     if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    import keras

    versions = [f"Keras {keras.__version__}"]
    for module in ("tensorflow", "jax", "torch"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            pass
    try:
        import torch

        if torch.cuda.is_available():  # timm and Keras' JAX/torch run there
            cpu = f"{torch.cuda.get_device_name(0)} GPU with {cpu}"
    except ImportError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs visible, "
            f"{platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}; " + ", ".join(versions))


def machine_line(rows):
    """The machine, and timm's versions where `rows` ({model: {impl:
    figures}}) have timm's figures."""
    versions = {r["timm"]["versions"] for r in rows.values() if "timm" in r}
    return (f"Machine: {machine()}."
            + "".join(f" timm side: {v}." for v in sorted(versions)))


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def cell(result, key, fmt):
    return fmt.format(result[key]) if result else "-"


def table(rows, backend, args):
    out = [
        f"Backend **{backend}**, batch {args.batch}, {args.size}x{args.size}, "
        "random weights. img/s: best of "
        f"{args.repeats}; ms: median of {args.latency_runs} at batch 1; "
        "MiB: peak resident memory above the framework's own. The Keras "
        "models are timed in turn in one process; timm in its own, right "
        "after, in the faster of its two memory formats.",
        "",
        "| model | GMACs | keras.applications img/s | ours img/s | ours / k.a. "
        "| folded img/s | folded / k.a. | timm (torch) img/s | ours / timm "
        "| folded / timm | ms k.a. / ours / folded / timm | MiB k.a. / ours / timm "
        "| ours GMAC/s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, r in rows.items():
        ref, ours, folded, timm = (r.get(k) for k in (
            "keras_applications", "ours", "ours_folded", "timm"))
        speed = {k: v["images_per_s"] if v else None
                 for k, v in (("ref", ref), ("ours", ours), ("folded", folded), ("timm", timm))}
        macs = ours["macs"] if ours else None
        out.append(" | ".join([
            f"| {name}", f"{macs / 1e9:.3f}" if macs else "-",
            cell(ref, "images_per_s", "{:.1f}"), cell(ours, "images_per_s", "{:.1f}"),
            ratio(speed["ours"], speed["ref"]),
            cell(folded, "images_per_s", "{:.1f}"), ratio(speed["folded"], speed["ref"]),
            cell(timm, "images_per_s", "{:.1f}"), ratio(speed["ours"], speed["timm"]),
            ratio(speed["folded"], speed["timm"]),
            " / ".join(cell(x, "latency_ms", "{:.1f}") for x in (ref, ours, folded, timm)),
            " / ".join(cell(x, "peak_mib", "{:.0f}") for x in (ref, ours, timm)),
            f"{macs * speed['ours'] / 1e9:.1f} |" if macs and speed["ours"] else "- |",
        ]))
    return "\n".join(out)


def main(argv=None):
    sys.path.insert(0, os.path.dirname(HERE))
    from keras_mobilenets import registry

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # MobileNetV5 by name only (its own comparison: mobilenet_v5.py).
    parser.add_argument("--models", nargs="+", default=list(registry.swept()),
                        choices=list(registry.ENTRIES), metavar="MODEL")
    parser.add_argument("--impls", nargs="+", choices=[
        "keras_applications", "ours", "ours_folded", "timm"],
        default=["keras_applications", "ours", "ours_folded", "timm"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=10)
    parser.add_argument("--timm-python", help="a Python that has timm and torch")
    parser.add_argument("--json", help="also write every measurement here")
    parser.add_argument("--markdown", help="also write the tables here")
    parser.add_argument("--readme", nargs="?", const=SPEED_PAGE, metavar="PATH",
                        help="also put the tables into docs/speed.md (or "
                        "PATH's Speed section), as this backend's and the "
                        "deployment's")
    parser.add_argument("--training-summary", nargs="?", const=README,
                        metavar="PATH", help="with --all-backends and "
                        "--measure train: also put one training table of "
                        "every backend into README.md (or PATH), between "
                        "its speed:training markers")
    parser.add_argument("--measure", nargs="+", default=["inference"],
                        choices=["inference", "train", "first_prediction",
                                 "deployment"],
                        help="inference (default), training steps, time to "
                        "first prediction in fresh processes, exported "
                        "LiteRT and ONNX files")
    parser.add_argument("--all-backends", nargs="*", metavar="BACKEND",
                        choices=backends.BACKENDS, help="run the measures "
                        "once per backend (these, else all three), each in "
                        "its own process, then the deployment measure once")
    parser.add_argument("--keras-backends", nargs="+", metavar="BACKEND",
                        choices=backends.BACKENDS, help="deployment: the "
                        "backends to time ours on beside the runtimes (the "
                        "active one, or those of --all-backends)")
    parser.add_argument("--first-runs", type=int, default=3,
                        help="fresh processes per implementation (median)")
    parser.add_argument("--weights-file",
                        help="first prediction: the weights to load (else "
                        "random weights written once per model)")
    parser.add_argument("--alpha", type=float, default=1.0,
                        help="first prediction: the models' alpha")
    parser.add_argument("--no-top", action="store_true",
                        help="first prediction: include_top=False")
    args = parser.parse_args(argv)

    timm_names = {e.name: e.timm_name for e in registry.ENTRIES.values()
                  if e.timm_name}
    timm = timm_python(args.timm_python) if "timm" in args.impls else None
    import keras

    backend = keras.backend.backend()
    rows, parts, texts = {}, [], {}
    if args.all_backends is not None:
        each = args.all_backends or list(backends.BACKENDS)
        args.keras_backends = args.keras_backends or each
        for name, (done, text) in backends.run_each(
                __file__, sys.argv[1:] if argv is None else argv, each,
                [m for m in args.measure if m != "deployment"]).items():
            rows[name], texts[name] = done, text
        if args.training_summary and "train" in args.measure:
            lifecycle.write_readme(args.training_summary, "training",
                                   lifecycle.training_summary(
                                       {b: r["train"] for b, r in rows.items()},
                                       args, machine_line({
                                           m: r for b in rows.values()
                                           for m, r in b["train"].items()})))
        args.measure = [m for m in args.measure if m == "deployment"]
    if "inference" in args.measure:
        rows["inference"] = {}
        for name in args.models:
            rows["inference"][name], _ = measure_model(
                name, args, timm, timm_names.get(name))
        parts.append(table(rows["inference"], backend, args))
    if "train" in args.measure:
        rows["train"] = {name: lifecycle.measure_training(
            name, impls_of(name, args), args, timm, timm_names.get(name),
            measure) for name in args.models}
        parts.append(lifecycle.train_table(rows["train"], backend, args))
    if "first_prediction" in args.measure:
        rows["first_prediction"] = {name: lifecycle.first_predictions(
            name, impls_of(name, args), args, timm, timm_names.get(name),
            run_worker) for name in args.models}
        parts.append(lifecycle.first_table(rows["first_prediction"], backend,
                                           args))
    if parts:
        texts[backend] = "\n\n".join(
            parts + [machine_line(rows.get("inference", {}))])
    if "deployment" in args.measure:
        args.keras_backends = args.keras_backends or [backend]
        rows["deployment"] = {name: deployment.measure_deployment(
            name, args, timm, timm_names.get(name), run_worker, measure)
            for name in args.models}
        texts["deployment"] = "\n\n".join([
            deployment.table(rows["deployment"], args),
            machine_line(rows["deployment"])])
    text = "\n\n".join(texts.values())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows if len(rows) > 1 else rows.get("inference", rows),
                      f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    for key, block in texts.items() if args.readme else ():
        lifecycle.write_readme(args.readme, key, block)
    print(text)


if __name__ == "__main__":
    main()
