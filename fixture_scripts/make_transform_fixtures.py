"""Writes tests/fixtures/transforms.npz: what timm's own eval transform
(`timm.data.create_transform(**resolve_data_config(...))`, up to its
ToTensor) makes of a few photos, for every default MobileNetV4 checkpoint at
its training and test sizes, and for the V1-V3 recipe (given to timm as a
config), as `tests/transform_reference.summary` compacts it, with timm's
resolved configs; and tests/fixtures/transforms_timm_v1_v3.npz: the same for
one checkpoint of each distinct data config among timm's V1-V3 checkpoints
(their training and test configs together), compacted smaller
(`summary(..., samples=1024)`, sampled pixels as uint8, means as float32).
tests/test_data.py compares `keras_mobilenets.eval_transform` with both.

    ../timm-venv/bin/python fixture_scripts/make_transform_fixtures.py [v4|timm_v1_v3]

(both files without an argument)
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
# timm's V1-V3 checkpoints (make_timm_v1_v3_fixtures.PATTERNS).
V1_V3 = ["mobilenetv1*", "mobilenetv2*", "mobilenetv3*", "tf_mobilenetv3*"]
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


def v4_cases():
    """(fixture key, timm's resolved data config) of the V4 defaults at
    both sizes and of the TF-Slim recipe."""
    cases = []
    for name in V4:
        model = timm.create_model(name, pretrained=False)
        tag = model.pretrained_cfg["tag"]
        for test_size in (False, True):
            cfg = timm.data.resolve_data_config({}, model=model,
                                                use_test_size=test_size)
            cases.append((f"{name}.{tag}|{int(test_size)}", cfg))
    cases.append(("slim|0", dict(SLIM)))
    return cases


def v1_v3_cases():
    """(fixture key, config) of the first checkpoint (by name) of each
    distinct pair (training config, test config) among timm's published
    V1-V3 checkpoints, at both sizes where they differ; each config with
    the checkpoint's `num_classes`."""
    groups = {}
    for name in timm.list_models(V1_V3, pretrained=True):
        cfg = timm.models.get_pretrained_cfg(name).to_dict()
        pair = tuple(timm.data.resolve_data_config(
            {}, pretrained_cfg=cfg, use_test_size=test_size)
            for test_size in (False, True))
        key = json.dumps(pair, sort_keys=True)
        groups.setdefault(key, (name, cfg["num_classes"], pair))
    cases = []
    for name, classes, pair in groups.values():
        for test_size, cfg in enumerate(pair):
            if test_size and cfg == pair[0]:
                continue
            cases.append((f"{name}|{test_size}", dict(cfg, num_classes=classes)))
    return cases


def write(path, cases, images, compact=None):
    """Writes the summaries of timm's pixels of every case and photo;
    `compact`: (samples, sample dtype, mean dtype) for a smaller file."""
    out, configs = {}, {}
    for key, cfg in cases:
        configs[key] = {k: (list(v) if isinstance(v, tuple) else v)
                        for k, v in cfg.items()}
        transform = timm.data.create_transform(
            **{k: v for k, v in cfg.items() if k != "num_classes"})
        for photo, image in images.items():
            if compact is None:
                parts = summary(pixels(transform, image))
            else:
                samples, sample_dtype, mean_dtype = compact
                parts = summary(pixels(transform, image), samples)
                parts = {k: v.astype(sample_dtype if k == "sample" else mean_dtype)
                         for k, v in parts.items()}
            for part, value in parts.items():
                out[f"{key}|{photo}|{part}"] = value
    np.savez_compressed(path, configs=json.dumps(configs),
                        timm=timm.__version__, **out)
    print(f"{os.path.relpath(path, REPO)}: timm {timm.__version__}, "
          f"{len(cases)} configs x {len(images)} photos, "
          f"{os.path.getsize(path)} bytes")
    for key, cfg in configs.items():
        print(key, cfg)


def main():
    if not os.path.isfile(ELEPHANT):
        sys.exit(f"no {ELEPHANT}: run from a checkout with ../shared beside it")
    which = sys.argv[1:] or ["v4", "timm_v1_v3"]
    if set(which) - {"v4", "timm_v1_v3"}:
        sys.exit(f"usage: {sys.argv[0]} [v4|timm_v1_v3]. Received: {which}")
    images = photos()
    fixtures = os.path.join(REPO, "tests", "fixtures")
    if "v4" in which:
        write(os.path.join(fixtures, "transforms.npz"), v4_cases(), images)
    if "timm_v1_v3" in which:
        write(os.path.join(fixtures, "transforms_timm_v1_v3.npz"),
              v1_v3_cases(), images, compact=(1024, np.uint8, np.float32))


if __name__ == "__main__":
    main()
