"""Text made from the registry's entries: each public builder's docstring
(`arguments`' template, filled from the entry), the one-line summary of its
checkpoints (`keras-mobilenets list`), and the markdown tables of README.md
and docs/checkpoints.md. Entries are read as data; nothing here imports the
registry, which attaches the docstrings (`registry.register`)."""

import textwrap

from . import arguments

TIMM_NOTE = (
    "The weights are timm's checkpoints, downloaded from the Hugging Face "
    "hub and converted on first use (the conversion is cached); the network "
    "is timm's (its conventions and layer names, so they convert "
    "mechanically). `weights` may also name one of these tags, the path of "
    "a timm .safetensors checkpoint of this architecture (converted on "
    "load), or a timm repository of the hub, 'hf-hub:<repo_id>'. Tag: "
    "alpha, training resolution, ImageNet-1k top-1 there (a head of other "
    "classes gives its classes, which `classes` left at 1000 takes, and no "
    "top-1).")


def docstring(entry):
    """The docstring of `entry`'s public builder, from the template
    (`arguments.docstring`)."""
    return arguments.docstring(
        entry.title, entry.paper, entry.arguments, entry.preprocessing_doc,
        weights_note(entry), _argument_docs(entry))


def weights_note(entry):
    """What a builder's docstring says of its weights, written here once
    for every model: timm's checkpoints one line per tag (alpha, training
    size, top-1 or classes), keras.applications' files in one line
    (`weights_summary`), then the entry's own `weights_note`."""
    lines = []
    if entry.pretrained.tags:
        lines += textwrap.wrap(TIMM_NOTE, 76)
        for c in entry.checkpoints:
            default = " (`weights='imagenet'`)" if c.default else ""
            result = (f"{c.top1}%" if c.top1 is not None
                      else f"{c.num_classes} classes" if c.num_classes
                      else "no classifier")
            lines.append(f"- {c.tag!r}{default}: {c.alpha}, "
                         f"{c.input_size}x{c.input_size}, {result}.")
    elif entry.checkpoints:
        lines += textwrap.wrap("ImageNet weights (keras.applications' "
                               f"files): {weights_summary(entry)}.", 76)
    return "\n".join(lines + textwrap.wrap(entry.weights_note, 76))


def _argument_docs(entry):
    """{argument: docstring text} where `entry`'s differs from the
    template's: the default alpha where it is not 1, the pre-logits."""
    docs = {}
    alpha = entry.defaults.get("alpha")
    if alpha is not None:
        timm = {a: n for n, a in entry.timm_names().items()}.get(alpha)
        docs["alpha"] = (arguments.ARGUMENTS["alpha"].doc + f" Defaults to "
                         f"{alpha}" + (f", timm's `{timm}`" if timm else "")
                         + f" ({entry.params:,} trainable parameters with "
                         "the top).")
    if "include_pre_logits" in entry.arguments:
        docs["include_pre_logits"] = arguments.PRE_LOGITS_DOC.format(
            top=pre_logits_doc(entry.arch))
    return docs


def pre_logits_doc(arch):
    """What the top of `arch` without its classifier is and returns, at
    alpha 1 (`include_pre_logits=True`): the wide 1x1 conv after the
    pooling (V3, V4), the one before it (timm's V2, V1 `100h`), or the
    pooling alone (timm's V1)."""
    top, head = arch.top, arch.last_conv
    if top.hidden:
        layers = ("its BatchNorm and activation" if top.hidden_norm
                  else "its activation")
        width = (f"{top.hidden} at every alpha, as timm's"
                 if top.hidden_scale == "fixed" else "scaled with alpha")
        return (f"global average pooling, the 1x1 `conv_head` conv, {layers}, "
                f"a (samples, {top.hidden}) output ({width})")
    if head is not None:
        width = {"fixed": f"{head.filters} at every alpha",
                 "widen": f"{head.filters} up to alpha 1, {head.filters} * "
                 "alpha rounded to 8 above"}.get(head.scale, "scaled with alpha")
        return (f"the 1x1 `conv_head` conv, its BatchNorm and activation, "
                f"then global average pooling, a (samples, {head.filters}) "
                f"output ({width}, as timm's)")
    last = arch.stages[-1][-1].filters
    return (f"the global average pooling of the last block (as "
            f"`pooling=\"avg\"`), a (samples, {last}) output at alpha 1 "
            "(the block's width at any other, as timm's `num_features`)")


def weights_summary(entry):
    """The checkpoints in one line: timm tags, or alphas x sizes (and
    the arguments they need where those are not the defaults)."""
    tags = entry.pretrained.tags
    if tags:  # a tag shared by several alphas, named once
        return "timm tags " + ", ".join(dict.fromkeys(tags))
    groups = {}
    for c in entry.checkpoints:
        needs = "".join(f" {k}={v}" for k, v in c.options.items()
                        if v != arguments.ARGUMENTS[k].default)
        groups.setdefault(needs, {}).setdefault(c.alpha, []).append(c.size)
    parts = []
    for needs, sizes_of in groups.items():
        by_sizes = {}
        for alpha, sizes in sizes_of.items():
            by_sizes.setdefault(tuple(sizes), []).append(alpha)
        parts += [f"alpha {'/'.join(map(str, alphas))}{needs} x "
                  f"{'/'.join(map(str, sizes))}"
                  for sizes, alphas in by_sizes.items()]
    return "; ".join(parts)


def _cell(value):
    return "-" if value is None else str(value)


def timm_checkpoint_table(entries):
    """Every timm checkpoint of `entries` (`registry.ENTRIES.values()`:
    V1 to V5) as a markdown table (the one in docs/checkpoints.md), one row
    per tag, under the model `from_preset` builds of it (Gemma 3n's once,
    under MobileNetV5_300M, though the encoder loads it too): model, alpha,
    tag
    (`weights=` takes it; "imagenet" names the default), classes, training
    size and crop, timm's ImageNet-1k top-1 there, and the same at the test
    size."""
    lines = ["| model | alpha | tag | classes | size | crop | top-1 "
             "| test size | test crop | top-1 at test size |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    entries = [e for e in entries if e.timm_names()]
    # A network that is one entry's `timm_name` is that entry's, as
    # `registry.timm_names` has it.
    owned = {n for e in entries for n in e.timm_names()
             if n not in e.timm_architectures}
    for entry in entries:
        for c in entry.checkpoints:
            if c.model in owned and c.model in entry.timm_architectures:
                continue
            tag = f"`{c.tag}`" + (" (default)" if c.default else "")
            cells = (f"`{entry.name}`", c.alpha, tag, c.num_classes,
                     c.input_size, c.crop_pct, c.top1, c.test_input_size,
                     c.test_crop_pct, c.test_top1)
            lines.append("| " + " | ".join(map(_cell, cells)) + " |")
    return "\n".join(lines)


def best_top1(entry):
    """(top-1, timm architecture, tag, input size) of the best figure timm
    publishes for a checkpoint of `entry`, at its training or test size;
    None where it has none."""
    found = [(top1, c.model, c.tag, size) for c in entry.checkpoints
             for top1, size in ((c.top1, c.input_size),
                                (c.test_top1, c.test_input_size))
             if top1 is not None]
    return max(found, default=None)


def timm_v1_v3_model_table(entries):
    """timm's V1-V3 networks among `entries` as a markdown table (the one in
    README.md): model, parameters at the default alpha, its checkpoints
    (`from_preset` names), the best top-1 of `timm_checkpoint_table`
    (`best_top1`) with its checkpoint, where there are several, and the
    size it is at, and the paper."""
    lines = ["| model | parameters | timm checkpoints | best top-1 "
             "| reference |", "|---|---:|---|---|---|"]
    for entry in entries:
        # V4 and V5 have their own tables (`timm_name`): the V5 encoder's
        # `timm_architectures` is the 300M network it also loads.
        if not entry.timm_architectures or entry.timm_name:
            continue
        names = ", ".join(f"`{c.model}.{c.tag}`" for c in entry.checkpoints)
        top1, model, tag, size = best_top1(entry)
        which = "" if len(entry.checkpoints) == 1 else f"`{model}.{tag}` "
        paper = entry.paper.rsplit("/", 1)[-1]
        lines.append(f"| `{entry.name}` | {entry.params:,} | {names} "
                     f"| {top1:.2f} ({which}at {size}) "
                     f"| [{paper}]({entry.paper}) |")
    return "\n".join(lines)
