"""Build keras_mobilenets/data/imagenet12k_classes.txt.gz from timm's package data.

Maintainer tool, run once in an environment where timm is installed:

    python weights/tools/make_imagenet12k_classes.py [--timm-info DIR]

The 11821 classes of timm's ImageNet-12k heads (the `*_in12k` MobileNetV4
checkpoints), in the order of their logits (timm's
``imagenet12k_synsets.txt``), one ``<WordNet id>\t<name>`` line each; the
name is the synset's first lemma with spaces replaced by underscores, as in
Keras' ImageNet-1k index (``make_class_index.py``). Gzipped with a zero
timestamp, so the same input gives the same bytes; prints their MD5.
"""

import argparse
import gzip
import hashlib
import os

OUT = os.path.join(
    os.path.dirname(__file__), "..", "..", "keras_mobilenets", "data",
    "imagenet12k_classes.txt.gz",
)
CLASSES = 11821


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timm-info", help="timm/data/_info directory")
    args = parser.parse_args()
    info = args.timm_info
    if info is None:
        import timm.data

        info = os.path.join(os.path.dirname(timm.data.__file__), "_info")
    with open(os.path.join(info, "imagenet12k_synsets.txt")) as f:
        synsets = [line.strip() for line in f if line.strip()]
    lemmas = {}
    with open(os.path.join(info, "imagenet_synset_to_lemma.txt")) as f:
        for line in f:
            wnid, lemma = line.rstrip("\n").split("\t", 1)
            lemmas[wnid] = lemma.split(",")[0].strip().replace(" ", "_")
    if len(synsets) != CLASSES or len(set(synsets)) != CLASSES:
        raise SystemExit(f"expected {CLASSES} distinct synsets, found "
                         f"{len(synsets)} ({len(set(synsets))} distinct)")
    text = "".join(f"{wnid}\t{lemmas[wnid]}\n" for wnid in synsets)
    data = gzip.compress(text.encode("utf8"), mtime=0)
    with open(OUT, "wb") as f:
        f.write(data)
    print(f"wrote {os.path.normpath(OUT)}: {CLASSES} classes, {len(data)} "
          f"bytes, md5 {hashlib.md5(data).hexdigest()}")


if __name__ == "__main__":
    main()
