"""Build keras_mobilenets/data/imagenet21k_miil_classes.txt.gz from timm's package data.

Maintainer tool, run once in an environment where timm is installed:

    python fixture_scripts/make_imagenet21k_miil_classes.py [--timm-info DIR]

The 11221 classes of the ImageNet-21k head of `mobilenetv3_large_100.miil_in21k`
(MIIL's subset of fall11, timm's ``imagenet21k_miil_synsets.txt``), in the
order of their logits, one ``<WordNet id>\t<name>`` line each, named as in
make_imagenet12k_classes.py. Gzipped with a zero timestamp, so the same input
gives the same bytes; prints their MD5.
"""

import os

import timm_info

OUT = os.path.join(
    os.path.dirname(__file__), "..", "keras_mobilenets", "data",
    "imagenet21k_miil_classes.txt.gz",
)
CLASSES = 11221


def main():
    timm_info.write_classes(OUT, timm_info.classes(
        "imagenet21k_miil_synsets.txt", __doc__.splitlines()[0], CLASSES))


if __name__ == "__main__":
    main()
