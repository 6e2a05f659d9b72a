"""Build keras_mobilenets/data/imagenet_class_index.json from timm's package data.

Maintainer tool, run once in an environment where timm is installed:

    python fixture_scripts/make_class_index.py [--timm-info DIR]

The output has the layout of Keras' ``imagenet_class_index.json``
(``{"0": ["n01440764", "tench"], ...}``): the class id is the WordNet synset id,
the name is its first lemma with spaces replaced by underscores. The script
prints the MD5 of what it wrote; Keras pins c2c37ea517e94d9795004a39431a14cb for
its copy, so equal MD5s prove the two files are byte-identical.
"""

import hashlib
import json
import os

import timm_info

KERAS_MD5 = "c2c37ea517e94d9795004a39431a14cb"
OUT = os.path.join(
    os.path.dirname(__file__), "..", "keras_mobilenets", "data",
    "imagenet_class_index.json",
)


def main():
    pairs = timm_info.classes("imagenet_synsets.txt",
                              __doc__.splitlines()[0], 1000)
    index = {str(i): [wnid, name] for i, (wnid, name) in enumerate(pairs)}
    text = json.dumps(index)
    with open(OUT, "w") as f:
        f.write(text)
    md5 = hashlib.md5(text.encode()).hexdigest()
    print(f"wrote {os.path.normpath(OUT)}; md5 {md5}")
    print("identical to Keras' file" if md5 == KERAS_MD5 else
          f"differs from Keras' file (md5 {KERAS_MD5})")


if __name__ == "__main__":
    main()
