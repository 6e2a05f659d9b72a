"""Speed on a GPU, JAX and PyTorch, beside keras.applications and timm, in
one run within a time budget (a lent GPU machine's minutes are few).

    python benchmarks/gpu.py --out DIR [--budget 420] [--models ...]

For each Keras backend (JAX, PyTorch) and dtype policy (float32,
mixed_bfloat16) one worker process builds keras.applications' model (V1-V3)
and ours with random weights and times, in turn: `predict_on_batch` at
batch 32 and 128 (images/s, median of --repeats calls after two warm-up
calls), batch 1 (ms, median of --latency-runs), and a `train_on_batch` SGD
step at batch 32 (images/s); mixed_bfloat16 only at batch 32. timm runs the
same measures in its own worker (channels_last; bf16 under
`torch.autocast`), as `benchmarks/measure.py` times it. Inputs are NumPy
arrays in and out for Keras (`predict_on_batch` copies them to the GPU and
back), and the copies in and out are timed for timm too.

Workers run one after the other (the GPU is never shared by two); each
prints a JSON line per figure as it goes, so a worker stopped at the budget
still reports what it measured. Writes DIR/gpu.json and DIR/gpu.md.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ("MobileNetV2", "MobileNetV3Large", "MobileNetV4ConvSmall",
          "MobileNetV4ConvMedium", "MobileNetV4HybridMedium")
TIMM = {"MobileNetV2": "mobilenetv2_100", "MobileNetV3Large": "mobilenetv3_large_100",
        "MobileNetV4ConvSmall": "mobilenetv4_conv_small",
        "MobileNetV4ConvMedium": "mobilenetv4_conv_medium",
        "MobileNetV4HybridMedium": "mobilenetv4_hybrid_medium"}
WORKERS = ["timm:float32", "torch:float32", "jax:float32", "timm:mixed_bfloat16",
           "torch:mixed_bfloat16", "jax:mixed_bfloat16"]
KERAS_APPLICATIONS = ("MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large")


def median_seconds(fn, x, runs, warmup=2):
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def emit(**row):
    print(json.dumps(row), flush=True)


def keras_worker(args):
    import keras
    import numpy as np

    import keras_mobilenets

    keras.config.set_dtype_policy(args.policy)
    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    batches = args.batches if args.policy == "float32" else args.batches[1:2]
    for name in args.models:
        impls = ["ours"] + (["keras_applications"] if name in KERAS_APPLICATIONS else [])
        for impl in impls:
            if impl == "ours":
                model = keras_mobilenets.registry.get(name).builder(
                    weights=None, input_shape=(args.size, args.size, 3))
            else:
                model = getattr(keras.applications, name)(
                    weights=None, input_shape=(args.size, args.size, 3))
            common = dict(backend=backend, policy=args.policy, model=name, impl=impl)
            for batch in batches:
                x = rng.uniform(0, 255, (batch, args.size, args.size, 3)).astype("float32")
                runs = args.latency_runs if batch == 1 else args.repeats
                s = median_seconds(model.predict_on_batch, x, runs)
                emit(**common, measure="predict", batch=batch,
                     images_per_s=batch / s, ms=1000 * s)
            model.compile(optimizer=keras.optimizers.SGD(0.01),
                          loss="sparse_categorical_crossentropy")
            x = rng.uniform(0, 255, (args.batches[1], args.size, args.size, 3)).astype("float32")
            y = rng.integers(0, 1000, (args.batches[1],))
            s = median_seconds(lambda x: model.train_on_batch(x, y), x, args.repeats)
            emit(**common, measure="train", batch=args.batches[1],
                 images_per_s=args.batches[1] / s, ms=1000 * s)
            del model
            keras.backend.clear_session()


def timm_worker(args):
    import numpy as np
    import timm
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    rng = np.random.default_rng(0)
    bf16 = args.policy != "float32"
    batches = args.batches if not bf16 else args.batches[1:2]
    for name in args.models:
        common = dict(backend="torch (timm)", policy=args.policy, model=name, impl="timm")
        model = timm.create_model(TIMM[name], pretrained=False).to(device)
        model = model.to(memory_format=torch.channels_last)

        def cast():
            return torch.autocast(device, dtype=torch.bfloat16, enabled=bf16)

        def nchw(images):
            x = torch.from_numpy(images / 255.0).float().permute(0, 3, 1, 2)
            return x.contiguous(memory_format=torch.channels_last)

        model.eval()

        def predict(x):
            with torch.inference_mode(), cast():
                return model(x.to(device)).float().cpu()

        for batch in batches:
            x = nchw(rng.uniform(0, 255, (batch, args.size, args.size, 3)))
            runs = args.latency_runs if batch == 1 else args.repeats
            s = median_seconds(predict, x, runs)
            emit(**common, measure="predict", batch=batch,
                 images_per_s=batch / s, ms=1000 * s)
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        labels = torch.from_numpy(rng.integers(0, 1000, (args.batches[1],))).to(device)

        def step(x):
            optimizer.zero_grad(set_to_none=True)
            with cast():
                loss = torch.nn.functional.cross_entropy(model(x.to(device)), labels)
            loss.backward()
            optimizer.step()
            return loss.item()

        x = nchw(rng.uniform(0, 255, (args.batches[1], args.size, args.size, 3)))
        s = median_seconds(step, x, args.repeats)
        emit(**common, measure="train", batch=args.batches[1],
                 images_per_s=args.batches[1] / s, ms=1000 * s)


def run_worker(kind, backend, policy, args, seconds):
    """The rows a worker printed before it ended or ran out of `seconds`."""
    env = dict(os.environ, KERAS_BACKEND=backend or "torch")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(HERE),
                                                      env.get("PYTHONPATH")]))
    command = [sys.executable, os.path.abspath(__file__), "--worker", kind,
               "--policy", policy, "--repeats", str(args.repeats),
               "--latency-runs", str(args.latency_runs), "--size", str(args.size),
               "--batches", *map(str, args.batches), "--models", *args.models]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=max(seconds, 1))
        out, err, status = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as stopped:
        out = stopped.stdout or ""
        err = stopped.stderr or ""
        out, err = (v.decode() if isinstance(v, bytes) else v for v in (out, err))
        status = "stopped at the budget"
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print(f"{kind} {backend or ''} {policy}: {len(rows)} figures, exit {status}",
          flush=True)
    if status != 0:
        print(err[-2000:], flush=True)
    return rows


def table(rows):
    """Markdown: a row per (model, policy, measure, batch), a column per
    implementation and backend, ratios of ours to the reference."""
    cols = ["jax ours", "jax keras_applications", "torch ours",
            "torch keras_applications", "timm"]
    keyed = {}
    for r in rows:
        col = "timm" if r["impl"] == "timm" else f"{r['backend']} {r['impl']}"
        key = (r["model"], r["policy"], r["measure"], r["batch"])
        keyed.setdefault(key, {})[col] = r
    lines = ["| model | policy | measure | batch | " + " | ".join(cols)
             + " | jax/KA | torch/KA | jax/timm | torch/timm |",
             "|---" * (len(cols) + 8) + "|"]
    for key in sorted(keyed):
        got = keyed[key]
        latency = key[3] == 1

        def cell(col):
            r = got.get(col)
            if r is None:
                return "-"
            return f"{r['ms']:.2f} ms" if latency else f"{r['images_per_s']:.0f}"

        def ratio(backend, ref):
            ours = got.get(f"{backend} ours")
            ref = got.get(ref)
            if not ours or not ref:
                return "-"
            return f"{ref['ms'] / ours['ms']:.2f}x"
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | "
                     + " | ".join(cell(c) for c in cols)
                     + " | " + " | ".join(
                         ratio(b, ref or f"{b} keras_applications")
                         for ref in (None, "timm") for b in ("jax", "torch")) + " |")
    return "\n".join(lines)


def machine():
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version",
                              "--format=csv,noheader"], capture_output=True,
                             text=True).stdout.strip()
    except OSError:
        gpu = "no nvidia-smi"
    # Installed versions, read without importing (the driver imported Keras
    # under its default backend, TensorFlow, absent on a GPU image: "absent").
    versions = {}
    for name in ("keras", "jax", "torch", "timm"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return (f"{gpu}; {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs; " + ", ".join(f"{k} {v}" for k, v in versions.items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".")
    parser.add_argument("--budget", type=float, default=420,
                        help="seconds for all workers together")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs=3, default=[1, 32, 128],
                        help="latency batch, main batch (training, bf16), large batch")
    parser.add_argument("--policy", default="float32")
    parser.add_argument("--workers", nargs="+", default=WORKERS,
                        help="in this order, as long as the budget lasts")
    parser.add_argument("--worker", choices=["keras", "timm"])
    args = parser.parse_args(argv)
    if args.worker == "keras":
        return keras_worker(args)
    if args.worker == "timm":
        return timm_worker(args)
    deadline = time.time() + args.budget
    where = machine()
    plan = [("timm" if w.startswith("timm") else "keras",
             None if w.startswith("timm") else w.split(":")[0], w.split(":")[1])
            for w in args.workers]
    rows = []
    for kind, backend, policy in plan:
        left = deadline - time.time()
        if left < 20:
            print(f"skipped {kind} {backend} {policy}: budget spent", flush=True)
            continue
        rows += run_worker(kind, backend, policy, args, left)
        with open(os.path.join(args.out, "gpu.json"), "w") as f:
            json.dump({"machine": where, "rows": rows}, f, indent=1)
    text = f"{table(rows)}\n\nMachine: {where}\n"
    with open(os.path.join(args.out, "gpu.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
