"""Exporting a model to LiteRT (float32, int8) and ONNX under the TensorFlow
backend, and running the files to check them against Keras; used by
`keras-mobilenets export` and benchmarks/deployment.py."""

import os

import keras
import numpy as np

from . import data, imagenet

FORMATS = ("litert", "onnx")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
HOLD_BACK_EVERY = 5  # images 1, 6, 11, ... of a sorted folder


def require_tensorflow():
    """Keras 3 writes LiteRT (and int8 LiteRT through TensorFlow's
    converter) only under the TensorFlow backend, and the ONNX path here is
    tf2onnx's."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            "Export writes LiteRT and ONNX files through TensorFlow (Keras' "
            "LiteRT exporter, TensorFlow's int8 converter, tf2onnx): run it "
            "with KERAS_BACKEND=tensorflow, e.g. `KERAS_BACKEND=tensorflow "
            f"keras-mobilenets export ...`. Received: backend {backend!r}")
    missing = []
    for module in ("ai_edge_litert", "onnx", "onnxruntime", "tf2onnx"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ValueError(
            f"Export needs {', '.join(missing)}: "
            "`pip install keras-mobilenets[export]`.")


def export_litert(model, path, calibration=None):
    """`model` to a LiteRT file: float32, or int8 (weights and activations,
    float input and output) calibrated on `calibration`, a batch of model
    inputs."""
    import tensorflow as tf

    if calibration is None:
        model.export(path, format="litert", verbose=False)
        return
    model.export(
        path, format="litert", verbose=False,
        optimizations=[tf.lite.Optimize.DEFAULT],
        representative_dataset=lambda: ([c[None]] for c in calibration),
        target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]})


def export_onnx(model, path):
    """`model` to an ONNX file (tf2onnx), V4's Normalization constants
    written back into it."""
    model.export(path, format="onnx", verbose=False)
    freeze_normalization(path, model)


def freeze_normalization(path, model):
    """Makes the graph inputs tf2onnx made of Normalization constants
    (`.../normalization.../Sub/y:0`: the mean, `.../Sqrt/x:0`: the variance)
    initializers holding the layer's values. Any other extra input is an
    error."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(path)
    graph = proto.graph
    extra = list(graph.input)[1:]
    if not extra:
        return
    layers = [layer for layer in model.layers
              if type(layer).__name__ == "Normalization"]
    values = {"Sub/y:0": "mean", "Sqrt/x:0": "variance"}
    for graph_input in extra:
        suffix = graph_input.name.rsplit("/", 2)[-2:]
        key = "/".join(suffix)
        if len(layers) != 1 or key not in values \
                or "normalization" not in graph_input.name:
            raise ValueError(f"Unexpected input {graph_input.name!r} in the "
                             f"ONNX export of {model.name}")
        value = np.asarray(getattr(layers[0], values[key]), dtype="float32")
        graph.initializer.append(
            numpy_helper.from_array(value, graph_input.name))
        graph.input.remove(graph_input)
    onnx.save(proto, path)


def litert_runner(path, batch, size, threads=None):
    """A function of NHWC float32 images, through LiteRT's interpreter
    with its input resized to `batch`."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [batch, size, size, 3])
    interpreter.allocate_tensors()
    out = interpreter.get_output_details()[0]["index"]

    def run(images):
        interpreter.set_tensor(index, images)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return run


def onnx_runner(path, threads=None):
    """A function of NHWC float32 images, through ONNX Runtime's CPU
    provider."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})[0]


def run_file(path, images, fmt):
    """The outputs of an exported file for a batch of model inputs."""
    images = np.asarray(images, dtype="float32")
    if fmt == "onnx":
        return onnx_runner(path)(images)
    return litert_runner(path, len(images), images.shape[1])(images)


def calibration_images(directory):
    """The image files under `directory` (recursively, sorted by path),
    split into (calibration, held back): every HOLD_BACK_EVERY-th image,
    starting with the first, is held back and never calibrates."""
    if not os.path.isdir(directory):
        raise ValueError(
            "`--calibration` must be a folder of images. "
            f"Received: {directory!r}, which is not a folder.")
    paths = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(directory) for name in names
        if name.lower().endswith(IMAGE_SUFFIXES))
    if len(paths) < 2:
        raise ValueError(
            f"`--calibration` needs at least 2 images ({', '.join(IMAGE_SUFFIXES)}"
            "): one to calibrate, one held back to measure the int8 "
            f"agreement. Received: {directory!r} with {len(paths)}.")
    held = paths[::HOLD_BACK_EVERY]
    return [p for p in paths if p not in held], held


def max_difference(got, want):
    """(max abs difference, largest |output|, their ratio)."""
    diff = float(np.abs(np.asarray(got) - np.asarray(want)).max())
    scale = float(np.abs(want).max())
    return diff, scale, diff / scale if scale else float("inf")


def agreement(got, want):
    """(top-1: same class, top-5: the float top-1 among `got`'s five best),
    each a fraction of the rows of two (images, classes) outputs."""
    got, want = np.asarray(got), np.asarray(want)
    reference = want.argmax(-1)
    top1 = float(np.mean(got.argmax(-1) == reference))
    best5 = np.argsort(-got, axis=-1)[:, :5]
    top5 = float(np.mean([r in row for r, row in zip(reference, best5)]))
    return top1, top5


def tied(outputs):
    """How many rows of (images, classes) outputs have their largest value
    more than once (a top-1 that is an accident of ties)."""
    outputs = np.asarray(outputs)
    best = outputs.max(-1, keepdims=True)
    return int(np.sum((outputs == best).sum(-1) > 1))


def tie_note(ties, images):
    """The line that says on how many of `images` the int8 top class is a
    tie, or None. Every image tied: a near-uniform softmax, as of initial
    weights; a few: 8-bit outputs that moved in the same step."""
    if not ties:
        return None
    hint = " (initial weights?)" if ties == images else ""
    return (f"note: the int8 top class is a tie on {ties} of {images} "
            f"images{hint}: the agreement says nothing there")


def command(args, build):
    """`keras-mobilenets export`: the model of `--model` or `--preset` to a
    LiteRT or ONNX file, checked against Keras; int8 calibrated on part of
    `--calibration`, the rest held back to measure its agreement with the
    float model. `args`: the parsed command line; `build(**builder
    arguments)`: (registry entry, model) as the command line names them
    (cli.py), called once the arguments are checked. (`--model-file`, a
    QAT model's int8 file: `quantization.export.command`.)"""
    if args.int8 and args.format != "litert":
        raise ValueError("`--int8` quantizes LiteRT files only (TensorFlow's "
                         "LiteRT converter): pass `--format litert`. "
                         f"Received: --format {args.format} --int8")
    if args.int8 != (args.calibration is not None):
        raise ValueError("`--int8` and `--calibration DIR` go together (int8 "
                         "is calibrated on images of DIR). Received: "
                         + ("--int8 without --calibration" if args.int8
                            else f"--calibration {args.calibration} without --int8"))
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise ValueError(f"`--output` must be in an existing folder. "
                         f"Received: --output {args.output}")
    if args.int8:
        calibration, held = calibration_images(args.calibration)
    require_tensorflow()
    entry, model = build(**({} if args.size is None else
                            {"input_shape": (args.size, args.size, 3)}))
    config = data.data_config(model)  # its checkpoint's recipe
    size = args.size or config["input_size"][1]
    transform = data.EvalTransform({**config, "input_size": (3, size, size)})

    def inputs(paths):
        return entry.preprocess(np.stack([transform(p) for p in paths]))

    # A few inputs: int8 the held-back images; float the sample photo and
    # random images.
    if args.int8:
        x, what = inputs(held), f"{len(held)} held-back images"
    else:
        random = np.random.default_rng(0).uniform(0, 255, (3, size, size, 3))
        x = np.concatenate([inputs([imagenet.SAMPLE_IMAGE]),
                            entry.preprocess(random.astype("float32"))])
        what = f"{len(x)} inputs (the sample photo, {len(random)} random images)"
    # Also what the exporters need: a model that was called.
    want = keras.ops.convert_to_numpy(model(x, training=False))
    if args.format == "onnx":
        export_onnx(model, args.output)
    else:
        export_litert(
            model, args.output, inputs(calibration) if args.int8 else None)
    kind = {"onnx": "ONNX", "litert": "LiteRT int8" if args.int8
            else "LiteRT float32"}[args.format]
    nbytes = os.path.getsize(args.output)
    print(f"wrote {args.output}: {kind}, {nbytes:,} bytes "
          f"({nbytes / 1e6:.2f} MB)")
    got = run_file(args.output, x, args.format)
    diff, scale, relative = max_difference(got, want)
    print(f"max abs diff vs Keras: {diff:.2e} on {what}; outputs up to "
          f"{scale:.2e}; relative {relative:.2e}")
    if args.int8:
        top1, top5 = agreement(got, want)
        print(f"calibrated on {len(calibration)} images of "
              f"{args.calibration}; {len(held)} held back (every "
              f"{HOLD_BACK_EVERY}th by path, from the first)")
        print(f"int8 agreement with the float Keras model on {len(held)} "
              f"held-back images: top-1 {top1:.1%} "
              f"({round(top1 * len(held))}/{len(held)}), top-5 {top5:.1%} "
              f"({round(top5 * len(held))}/{len(held)}; the float top-1 "
              "among int8's five best)")
        note = tie_note(tied(got), len(held))
        if note:
            print(note)
    return 0
