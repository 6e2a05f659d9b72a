"""Measures one model in this process and prints one JSON line (run.py's worker).

    python benchmarks/measure.py --model MobileNetV2 --impls keras_applications ours
    python benchmarks/measure.py --model MobileNetV2 --impls ours --memory
    python benchmarks/measure.py --model MobileNetV2 --impls keras_applications ours --train

Implementations: "keras_applications" (V1-V3), "ours", "ours_folded" (ours
through `keras_mobilenets.fold_batch_norm`), and "timm" (V4; needs timm and
torch but not Keras, so it runs from a separate timm environment too).

Timing: every implementation is built first, then timed call by call in
turn (a batch of one, then of the next, ...), so that whatever else the
machine does slows them all alike. Throughput is the best of --repeats
`predict_on_batch` calls at --batch (other load only ever slows a call
down); latency the median of --latency-runs calls at batch 1; both after
warm-up calls (JAX and TensorFlow compile then).

--train: training steps instead (`train_on_batch`, SGD, sparse
cross-entropy over 1000 random labels; timm: forward, loss, backward and
`optimizer.step()`), best of --repeats at --batch.

--memory: one implementation alone, built and run on two batches; reports
the process's peak resident memory above what it used before the model was
built, in MiB.
"""

import argparse
import json
import resource
import statistics
import time


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def keras_model(impl, name, size):
    """A Keras implementation with random weights."""
    import keras
    import keras_mobilenets

    if impl == "keras_applications":
        return getattr(keras.applications, name)(
            weights=None, input_shape=(size, size, 3))
    model = keras_mobilenets.registry.get(name).builder(
        weights=None, input_shape=(size, size, 3))
    if impl == "ours_folded":
        model = keras_mobilenets.fold_batch_norm(model)
    return model


def keras_runner(impl, name, size):
    """(predict function, MACs per image) of a Keras implementation."""
    import keras_mobilenets

    model = keras_model(impl, name, size)
    return model.predict_on_batch, keras_mobilenets.count_macs(model)


def timm_runner(name, memory_format):
    """timm's model in eval mode on NCHW tensors in `memory_format`
    ("contiguous", timm's default, or "channels_last"), converted from NHWC
    NumPy outside the timed call, as a PyTorch user already has them."""
    import timm
    import torch

    fmt = {"contiguous": torch.contiguous_format,
           "channels_last": torch.channels_last}[memory_format]
    device = torch_device()
    model = timm.create_model(name, pretrained=False).eval()
    model = model.to(device, memory_format=fmt)

    def run(images):
        # On a GPU the copies in and out are timed, as Keras' predict
        # takes and returns NumPy arrays.
        with torch.inference_mode():
            return model(images.to(device)).cpu()

    return run, lambda images: timm_input(images, fmt)


def timm_versions():
    """timm's and PyTorch's versions, as the tables' machine line gives them."""
    import timm
    import torch

    return f"timm {timm.__version__}, torch {torch.__version__}"


def torch_device():
    """Where timm runs: the GPU where PyTorch sees one (as Keras' JAX and
    PyTorch backends then run there too), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def timm_input(images, fmt):
    """NHWC NumPy images as an NCHW torch tensor in memory format `fmt`."""
    import torch

    # timm takes normalised inputs; the scale does not change the cost.
    x = torch.from_numpy(images / 255.0).permute(0, 3, 1, 2)
    return x.contiguous(memory_format=fmt)


def keras_trainer(impl, name, size, batch):
    """A `train_on_batch` step (SGD, cross-entropy over 1000 classes) of a
    Keras implementation, and the labels it takes."""
    import keras
    import numpy as np

    model = keras_model(impl, name, size)
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss="sparse_categorical_crossentropy")
    labels = np.random.default_rng(1).integers(0, 1000, (batch,))
    return lambda images: model.train_on_batch(images, labels)


def timm_trainer(name, memory_format, batch):
    """timm's training step as its train script takes it: forward,
    cross-entropy, backward and an SGD step, on NCHW tensors in
    `memory_format`."""
    import timm
    import torch

    fmt = {"contiguous": torch.contiguous_format,
           "channels_last": torch.channels_last}[memory_format]
    device = torch_device()
    model = timm.create_model(name, pretrained=False).train()
    model = model.to(device, memory_format=fmt)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    labels = torch.randint(0, 1000, (batch,),
                           generator=torch.Generator().manual_seed(1))
    labels = labels.to(device)

    def step(images):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images.to(device)), labels)
        loss.backward()
        optimizer.step()
        return loss.item()  # waits for the step, as train_on_batch does

    return step, lambda images: timm_input(images, fmt)


def interleaved(runs, inputs, repeats, warmup=2):
    """{impl: [seconds per call]}, calling the implementations in turn."""
    for _ in range(warmup):
        for impl, run in runs.items():
            run(inputs[impl])
    times = {impl: [] for impl in runs}
    for _ in range(repeats):
        for impl, run in runs.items():
            start = time.perf_counter()
            run(inputs[impl])
            times[impl].append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--impls", nargs="+", required=True, choices=[
        "keras_applications", "ours", "ours_folded", "timm"])
    parser.add_argument("--timm-name", help="timm's name of the model")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=10)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--train", action="store_true",
                        help="time training steps at --batch instead")
    args = parser.parse_args(argv)
    if args.train:
        return train(args)

    import numpy as np

    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, (args.batch, args.size, args.size, 3)).astype("float32")
    single = batch[:1].copy()
    baseline = peak_rss_mib()
    runs, batches, singles, macs, backend = {}, {}, {}, {}, None
    for impl in args.impls:
        if impl == "timm":
            # The faster of PyTorch's two memory formats stands for timm.
            best = None
            for memory_format in ("contiguous", "channels_last"):
                run, to_torch = timm_runner(args.timm_name, memory_format)
                x = to_torch(batch)
                seconds = min(interleaved({0: run}, {0: x}, 2, warmup=1)[0])
                if best is None or seconds < best[0]:
                    best = (seconds, run, x, to_torch(single), memory_format)
            _, runs[impl], batches[impl], singles[impl], timm_format = best
            macs[impl] = None
        else:
            import keras

            backend = keras.backend.backend()
            runs[impl], macs[impl] = keras_runner(impl, args.model, args.size)
            batches[impl], singles[impl] = batch, single
    if args.memory:
        for impl, run in runs.items():
            run(batches[impl])
            run(batches[impl])
        print(json.dumps({"model": args.model, "impls": args.impls,
                          "peak_mib": peak_rss_mib() - baseline}))
        return
    throughput = interleaved(runs, batches, args.repeats)
    latency = interleaved(runs, singles, args.latency_runs)
    results = {}
    for impl in runs:
        results[impl] = {
            "images_per_s": args.batch / min(throughput[impl]),
            "batch_s": sorted(throughput[impl]),
            "latency_ms": 1000 * statistics.median(latency[impl]),
            "macs": macs[impl],
        }
        if impl == "timm":
            results[impl]["memory_format"] = timm_format
            results[impl]["versions"] = timm_versions()
    print(json.dumps({"model": args.model, "backend": backend or "torch (timm)",
                      "batch": args.batch, "size": args.size,
                      "results": results}))


def train(args):
    """Training steps per second at --batch, best of --repeats, each
    implementation in turn; timm in the faster of its memory formats."""
    import numpy as np

    batch = np.random.default_rng(0).uniform(
        0, 255, (args.batch, args.size, args.size, 3)).astype("float32")
    steps, inputs, backend, extra = {}, {}, None, {}
    for impl in args.impls:
        if impl == "timm":
            best = None
            for memory_format in ("contiguous", "channels_last"):
                step, to_torch = timm_trainer(args.timm_name, memory_format,
                                              args.batch)
                x = to_torch(batch)
                seconds = min(interleaved({0: step}, {0: x}, 2, warmup=1)[0])
                if best is None or seconds < best[0]:
                    best = (seconds, step, x, memory_format)
            _, steps[impl], inputs[impl], fmt = best
            extra[impl] = {"memory_format": fmt, "versions": timm_versions()}
        else:
            import keras

            backend = keras.backend.backend()
            steps[impl] = keras_trainer(impl, args.model, args.size, args.batch)
            inputs[impl] = batch
    times = interleaved(steps, inputs, args.repeats)
    results = {impl: {"train_images_per_s": args.batch / min(times[impl]),
                      "train_step_s": sorted(times[impl]), **extra.get(impl, {})}
               for impl in steps}
    print(json.dumps({"model": args.model, "backend": backend or "torch (timm)",
                      "batch": args.batch, "size": args.size,
                      "results": results}))


if __name__ == "__main__":
    main()
