"""Time to first prediction, in this fresh process (run.py's worker).

    python benchmarks/first_prediction.py --impl ours --model MobileNetV2 \
        --weights FILE [--alpha 0.35] [--no-top] [--size 224]
    python benchmarks/first_prediction.py --impl ours --model MobileNetV2 \
        --save FILE ...    # writes random weights for the runs to load

What a user waits for: import the library, build the model with weights
from a local file, and `predict` one image. Prints one JSON line with the
seconds of each step (import, build and load, first predict) and their sum.
Implementations: "keras_applications" (V1-V3, `weights=FILE`), "ours"
(`weights=FILE`: an h5 file in keras.applications' layout, or a timm
safetensors file for V4) and "timm" (`timm.create_model` then
`load_state_dict` from the safetensors file). run.py starts it with no JAX
compilation cache, as a user's first run has none.
"""

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402


def keras_model(args, weights):
    import keras

    kwargs = dict(alpha=args.alpha, include_top=not args.no_top,
                  weights=weights, input_shape=(args.size, args.size, 3))
    if args.impl == "keras_applications":
        return getattr(keras.applications, args.model)(**kwargs)
    import keras_mobilenets

    return keras_mobilenets.registry.get(args.model).builder(**kwargs)


def timm_model(args, weights):
    import safetensors.torch
    import timm

    model = timm.create_model(args.timm_name, pretrained=False,
                              num_classes=0 if args.no_top else 1000)
    if weights is None:
        return model
    model.load_state_dict(safetensors.torch.load_file(weights))
    return model.eval()


def save(args):
    """Writes the weights of a randomly initialised model to args.save."""
    if args.impl == "timm":
        import safetensors.torch

        safetensors.torch.save_file(timm_model(args, None).state_dict(), args.save)
        return
    from keras_mobilenets import weights

    weights.save_weights_file(keras_model(args, None), args.save)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", required=True,
                        choices=["keras_applications", "ours", "timm"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--timm-name")
    parser.add_argument("--weights", help="the weights file to load")
    parser.add_argument("--save", help="write random weights here and stop")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--no-top", action="store_true")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args(argv)
    if args.save:
        save(args)
        print(json.dumps({"model": args.model, "saved": args.save}))
        return

    import numpy as np

    image = np.random.default_rng(0).uniform(
        0, 255, (1, args.size, args.size, 3)).astype("float32")
    steps = {}
    if args.impl == "timm":
        import timm  # noqa: F401
        import torch

        steps["import_s"] = time.perf_counter() - START
        model = timm_model(args, args.weights)
        steps["build_load_s"] = time.perf_counter() - START - steps["import_s"]
        with torch.inference_mode():
            model(torch.from_numpy(image / 255.0).permute(0, 3, 1, 2).float())
    else:
        import keras

        if args.impl == "ours":
            import keras_mobilenets  # noqa: F401
        steps["import_s"] = time.perf_counter() - START
        model = keras_model(args, args.weights)
        steps["build_load_s"] = time.perf_counter() - START - steps["import_s"]
        model.predict(image, verbose=0)
        steps["backend"] = keras.backend.backend()
    steps["total_s"] = time.perf_counter() - START
    steps["predict_s"] = (steps["total_s"] - steps["import_s"]
                          - steps["build_load_s"])
    print(json.dumps({"model": args.model, "impl": args.impl, **steps}))


if __name__ == "__main__":
    main()
