"""Build keras_mobilenets/data/imagenet_class_index.json from timm's package data.

Maintainer tool, run once in an environment where timm is installed:

    python weights/tools/make_class_index.py [--timm-info DIR]

The output has the layout of Keras' ``imagenet_class_index.json``
(``{"0": ["n01440764", "tench"], ...}``): the class id is the WordNet synset id,
the name is its first lemma with spaces replaced by underscores. The script
prints the MD5 of what it wrote; Keras pins c2c37ea517e94d9795004a39431a14cb for
its copy, so equal MD5s prove the two files are byte-identical.
"""

import argparse
import hashlib
import json
import os

KERAS_MD5 = "c2c37ea517e94d9795004a39431a14cb"
OUT = os.path.join(
    os.path.dirname(__file__), "..", "..", "keras_mobilenets", "data",
    "imagenet_class_index.json",
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timm-info", help="timm/data/_info directory")
    args = parser.parse_args()
    info = args.timm_info
    if info is None:
        import timm.data

        info = os.path.join(os.path.dirname(timm.data.__file__), "_info")
    with open(os.path.join(info, "imagenet_synsets.txt")) as f:
        synsets = [line.strip() for line in f if line.strip()]
    lemmas = {}
    with open(os.path.join(info, "imagenet_synset_to_lemma.txt")) as f:
        for line in f:
            wnid, lemma = line.rstrip("\n").split("\t", 1)
            lemmas[wnid] = lemma.split(",")[0].strip().replace(" ", "_")
    if len(synsets) != 1000:
        raise SystemExit(f"expected 1000 synsets, found {len(synsets)}")
    index = {str(i): [wnid, lemmas[wnid]] for i, wnid in enumerate(synsets)}
    text = json.dumps(index)
    with open(OUT, "w") as f:
        f.write(text)
    md5 = hashlib.md5(text.encode()).hexdigest()
    print(f"wrote {os.path.normpath(OUT)}; md5 {md5}")
    print("identical to Keras' file" if md5 == KERAS_MD5 else
          f"differs from Keras' file (md5 {KERAS_MD5})")


if __name__ == "__main__":
    main()
