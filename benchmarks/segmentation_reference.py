"""Times one torchvision segmentation model in this process and prints one
JSON line (segmentation.py's worker; needs torch and torchvision, not Keras).

    ../timm-venv/bin/python benchmarks/segmentation_reference.py \
        --model lraspp_mobilenet_v3_large --size 512 --batch 4

Random weights (`weights=None, weights_backbone=None`), eval mode, under
`torch.inference_mode()`, in the faster of PyTorch's two memory formats;
images/s is the best of --repeats calls after two warm-up calls.
"""

import argparse
import json

from measure import interleaved, timm_input, torch_device

MODELS = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large")


def build(name, classes):
    """torchvision's model without pretrained weights or auxiliary head."""
    from torchvision.models import segmentation

    extra = {"aux_loss": False} if name.startswith("deeplabv3") else {}
    return getattr(segmentation, name)(weights=None, weights_backbone=None,
                                       num_classes=classes, **extra).eval()


def runner(name, classes, memory_format):
    """(predict function, NHWC NumPy -> torch input, trainable parameters):
    the model on NCHW tensors in `memory_format`; its output is the
    per-pixel logits ("out"), copied back as Keras' predict returns NumPy."""
    import torch

    fmt = {"contiguous": torch.contiguous_format,
           "channels_last": torch.channels_last}[memory_format]
    device = torch_device()
    model = build(name, classes).to(device, memory_format=fmt)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)

    def run(images):
        with torch.inference_mode():
            return model(images.to(device))["out"].cpu()

    return run, lambda images: timm_input(images, fmt), parameters


def versions():
    import torch
    import torchvision

    return f"torchvision {torchvision.__version__}, torch {torch.__version__}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=MODELS)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import numpy as np

    images = np.random.default_rng(0).uniform(
        0, 255, (args.batch, args.size, args.size, 3)).astype("float32")
    best = None
    for memory_format in ("contiguous", "channels_last"):
        run, to_torch, parameters = runner(args.model, args.classes,
                                           memory_format)
        x = to_torch(images)
        seconds = min(interleaved({0: run}, {0: x}, 2, warmup=1)[0])
        if best is None or seconds < best[0]:
            best = (seconds, run, x, memory_format)
    _, run, x, memory_format = best
    seconds = interleaved({0: run}, {0: x}, args.repeats)[0]
    print(json.dumps({"model": args.model, "batch": args.batch,
                      "size": args.size,
                      "images_per_s": args.batch / min(seconds),
                      "batch_s": sorted(seconds),
                      "memory_format": memory_format,
                      "parameters": parameters, "versions": versions()}))


if __name__ == "__main__":
    main()
