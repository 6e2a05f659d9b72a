"""timm's class lists (its package data, timm/data/_info), for the scripts
that build our class-name files: make_class_index.py (ImageNet-1k),
make_imagenet12k_classes.py (ImageNet-12k) and
make_imagenet21k_miil_classes.py (the in21k head of MobileNetV3-Large)."""

import argparse
import gzip
import hashlib
import os


def classes(synsets_file, description, count):
    """[(WordNet id, name), ...] in the order of `synsets_file`'s logits,
    the name being the synset's first lemma with spaces replaced by
    underscores (as in Keras' ImageNet-1k index). Parses the command line
    (`--timm-info DIR`, else the installed timm's) and exits unless there
    are `count` distinct synsets."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--timm-info", help="timm/data/_info directory")
    info = parser.parse_args().timm_info
    if info is None:
        import timm.data

        info = os.path.join(os.path.dirname(timm.data.__file__), "_info")
    with open(os.path.join(info, synsets_file)) as f:
        synsets = [line.strip() for line in f if line.strip()]
    lemmas = {}
    with open(os.path.join(info, "imagenet_synset_to_lemma.txt")) as f:
        for line in f:
            wnid, lemma = line.rstrip("\n").split("\t", 1)
            lemmas[wnid] = lemma.split(",")[0].strip().replace(" ", "_")
    if len(synsets) != count or len(set(synsets)) != count:
        raise SystemExit(f"expected {count} distinct synsets in "
                         f"{synsets_file}, found {len(synsets)} "
                         f"({len(set(synsets))} distinct)")
    return [(wnid, lemmas[wnid]) for wnid in synsets]


def write_classes(out, pairs):
    """Writes `pairs` to `out` as gzipped `<WordNet id>\t<name>` lines with
    a zero timestamp (the same input gives the same bytes) and prints the
    file's MD5."""
    text = "".join(f"{wnid}\t{name}\n" for wnid, name in pairs)
    data = gzip.compress(text.encode("utf8"), mtime=0)
    with open(out, "wb") as f:
        f.write(data)
    print(f"wrote {os.path.normpath(out)}: {len(pairs)} classes, {len(data)} "
          f"bytes, md5 {hashlib.md5(data).hexdigest()}")
