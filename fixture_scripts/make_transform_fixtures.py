"""Writes tests/fixtures/transforms.npz: what timm's own eval transform
(`timm.data.create_transform(**resolve_data_config(...))`, up to its
ToTensor) makes of a few photos, for every default MobileNetV4 checkpoint at
its training and test sizes, and for the V1-V3 recipe (given to timm as a
config), as `tests/transform_reference.summary` compacts it, with timm's
resolved configs. tests/test_data.py compares `keras_mobilenets.eval_transform`
with it.

    ../timm-venv/bin/python fixture_scripts/make_transform_fixtures.py

(a virtual environment with timm: see fixture_scripts/README.md). Needs ../shared
beside the checkout for the elephant photos.
"""

import json
import os
import sys

import numpy as np
import timm
import timm.data
import torchvision.transforms as T

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
from transform_reference import ELEPHANT, photos, summary  # noqa: E402

# The default checkpoint of each timm architecture we register.
V4 = ["mobilenetv4_conv_small", "mobilenetv4_conv_small_050",
      "mobilenetv4_conv_medium", "mobilenetv4_conv_large",
      "mobilenetv4_hybrid_medium", "mobilenetv4_hybrid_large",
      "mobilenetv4_conv_aa_large", "mobilenetv4_conv_blur_medium"]
# keras_mobilenets.data_config("MobileNet"): the TF-Slim recipe.
SLIM = dict(input_size=(3, 224, 224), interpolation="bilinear", crop_pct=0.875,
            crop_mode="squash", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def pixels(transform, image):
    """The transform's steps before ToTensor, as a uint8 array."""
    for step in transform.transforms:
        if isinstance(step, (T.ToTensor, T.PILToTensor)) or \
                type(step).__name__ == "MaybeToTensor":
            break
        image = step(image)
    return np.asarray(image)


def main():
    if not os.path.isfile(ELEPHANT):
        sys.exit(f"no {ELEPHANT}: run from a checkout with ../shared beside it")
    images = photos()
    out, configs = {}, {}
    cases = []
    for name in V4:
        model = timm.create_model(name, pretrained=False)
        tag = model.pretrained_cfg["tag"]
        for test_size in (False, True):
            cfg = timm.data.resolve_data_config({}, model=model,
                                                use_test_size=test_size)
            cases.append((f"{name}.{tag}|{int(test_size)}", cfg))
    cases.append(("slim|0", dict(SLIM)))
    for key, cfg in cases:
        configs[key] = {k: (list(v) if isinstance(v, tuple) else v)
                        for k, v in cfg.items()}
        transform = timm.data.create_transform(**cfg)
        for photo, image in images.items():
            for part, value in summary(pixels(transform, image)).items():
                out[f"{key}|{photo}|{part}"] = value
    np.savez_compressed(os.path.join(REPO, "tests", "fixtures", "transforms.npz"),
                        configs=json.dumps(configs), timm=timm.__version__,
                        **out)
    print(f"timm {timm.__version__}: {len(cases)} configs x {len(images)} photos")
    for key, cfg in configs.items():
        print(key, cfg)


if __name__ == "__main__":
    main()
