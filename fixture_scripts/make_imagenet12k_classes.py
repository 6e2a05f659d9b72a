"""Build keras_mobilenets/data/imagenet12k_classes.txt.gz from timm's package data.

Maintainer tool, run once in an environment where timm is installed:

    python fixture_scripts/make_imagenet12k_classes.py [--timm-info DIR]

The 11821 classes of timm's ImageNet-12k heads (the `*_in12k` MobileNetV4
checkpoints), in the order of their logits (timm's
``imagenet12k_synsets.txt``), one ``<WordNet id>\t<name>`` line each; the
name is the synset's first lemma with spaces replaced by underscores, as in
Keras' ImageNet-1k index (``make_class_index.py``). Gzipped with a zero
timestamp, so the same input gives the same bytes; prints their MD5.
"""

import os

import timm_info

OUT = os.path.join(
    os.path.dirname(__file__), "..", "keras_mobilenets", "data",
    "imagenet12k_classes.txt.gz",
)
CLASSES = 11821


def main():
    timm_info.write_classes(OUT, timm_info.classes(
        "imagenet12k_synsets.txt", __doc__.splitlines()[0], CLASSES))


if __name__ == "__main__":
    main()
