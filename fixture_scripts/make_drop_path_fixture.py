"""Writes tests/fixtures/drop_path.json: timm's stochastic-depth rate of every
block of each MobileNetV4 at drop_path_rate=0.2, {timm name: {module path:
drop probability}} (blocks whose DropPath is an Identity are left out), for
tests/test_drop_path.py.

    ../timm-venv/bin/python fixture_scripts/make_drop_path_fixture.py
"""

import json
import os

import timm
from timm.layers import DropPath

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "drop_path.json")
MODELS = ["mobilenetv4_conv_small", "mobilenetv4_conv_medium",
          "mobilenetv4_conv_large", "mobilenetv4_hybrid_medium",
          "mobilenetv4_hybrid_large"]
RATE = 0.2


def main():
    out = {"timm": timm.__version__, "drop_path_rate": RATE, "models": {}}
    for name in MODELS:
        model = timm.create_model(name, pretrained=False, drop_path_rate=RATE)
        out["models"][name] = {
            module: layer.drop_prob for module, layer in model.named_modules()
            if isinstance(layer, DropPath)}
        print(name, len(out["models"][name]), "drop paths")
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
