"""Which checkpoint a `weights=` value names, for a registry entry and the
checked arguments (`builder.Options`): a tag or "imagenet" by alpha, options
and input size, a hub repository by its config; and the classes of the top
it brings."""

import dataclasses
import warnings


def resolve(entry, opts, rows, cols):
    """(checkpoint or None, rows, opts) for `opts.weights`: the checkpoint
    it names (a `weights.TimmCheckpoint`/`KerasCheckpoint`, or a hub
    repository with its config read), the input rows it is loaded at, and
    `opts` with the top's classes the weights bring."""
    kind = opts.weights_kind
    if kind in ("imagenet", "tag"):
        checkpoint, rows = select(entry, opts, rows, cols)
        return checkpoint, rows, dataclasses.replace(opts, classes=top_classes(
            opts, checkpoint.num_classes, f"weights={opts.weights!r}"))
    if kind == "hub":
        if not entry.timm_names():  # refused before anything is downloaded
            raise ValueError(
                f"{entry.name} has no timm counterpart: `weights='hf-hub:...'` "
                "loads timm checkpoints into the MobileNetV4 models only. "
                f"Received: weights={opts.weights.weights!r}")
        repo = opts.weights.read_config()
        return repo, rows, dataclasses.replace(
            opts, classes=check_hub_repo(entry, opts, repo))
    return None, rows, opts


def _matches(checkpoint, opts):
    return all(getattr(opts, k) == v for k, v in checkpoint.options.items())


def candidates(entry, opts):
    """The checkpoints `opts.weights` may name, before alpha and size."""
    if opts.weights == "imagenet":
        return [c for c in entry.checkpoints if c.default and _matches(c, opts)]
    return [c for c in entry.checkpoints
            if c.tag == opts.weights and _matches(c, opts)]


def _option_text(entry, opts):
    """The arguments other than alpha that choose a checkpoint, as text."""
    keys = {k for c in entry.checkpoints for k in c.options}
    return "".join(f", {k}={getattr(opts, k)}" for k in sorted(keys))


def select(entry, opts, rows, cols):
    """The checkpoint `opts.weights` names at this alpha and input size;
    raises a ValueError that says what exists."""
    found = candidates(entry, opts)
    alphas = sorted({c.alpha for c in found})
    if opts.alpha not in alphas:
        if not found:  # another argument rules every checkpoint out
            wanted = sorted({f"{k}={v}" for c in entry.checkpoints
                             for k, v in c.options.items()
                             if getattr(opts, k) != v})
            raise ValueError(
                f"{entry.name} has ImageNet weights only for "
                f"{', '.join(wanted)}. Received:"
                f"{_option_text(entry, opts)[1:]}")
        tag = f", weights={opts.weights!r}" if opts.weights != "imagenet" else ""
        raise ValueError(
            f"{entry.name} has ImageNet weights for alpha in {alphas} with "
            f"these arguments. Received: alpha={opts.alpha}"
            f"{_option_text(entry, opts)}{tag}")
    found = [c for c in found if c.alpha == opts.alpha]
    sizes = sorted({s for c in found for s in c.sizes})
    for c in found:
        if rows == cols and rows in c.sizes:
            return c, rows
    if opts.include_top and entry.default_size is not None:
        # Generations with a default size (V1, V2) take only the trained
        # sizes under their pretrained top, as keras.applications does.
        raise ValueError(
            f"With `weights='imagenet'` and `include_top=True`, {entry.name} "
            f"takes square inputs of size {sizes}. Received: "
            f"input_shape={opts.input_shape}")
    size = found[-1].sizes[-1]
    if opts.input_shape is not None or opts.input_tensor is not None:
        warnings.warn(
            f"There are no ImageNet weights of {entry.name} for input size "
            f"{rows}x{cols}; loading those for {size}x{size}.",
            stacklevel=5)
    return found[-1], size


def check_hub_repo(entry, opts, repo):
    """Checks that the timm repository `repo` (a `weights.HubRepo` with its
    config read) holds this model at this alpha; returns the number of
    classes of the top (`top_classes`)."""
    names = entry.timm_names()
    held = repo.architecture
    received = f"Received: weights={repo.weights!r}, alpha={opts.alpha}"
    if held in names and names[held] != opts.alpha:
        raise ValueError(
            f"{repo.weights} holds timm's {held!r}, which is {entry.name} "
            f"with alpha={names[held]}. {received}")
    if held not in names:
        called = {a: n for n, a in names.items()}.get(opts.alpha)
        raise ValueError(
            f"{repo.weights} holds timm's {held!r}, another model than "
            f"{entry.name} (timm's {', '.join(repr(n) for n in names)}"
            + (f"; {called!r} at this alpha" if called else "") + "). "
            f"{received}")
    return top_classes(opts, repo.num_classes, repo.weights)


def top_classes(opts, num_classes, source):
    """The classes of the top with weights of `num_classes` classes (a
    checkpoint's or a hub repository's): those where `classes` is left at
    its default (1000) or equals them; else a ValueError."""
    if opts.include_top and opts.classes not in (num_classes, 1000):
        raise ValueError(
            f"{source} has a top of {num_classes} classes: with "
            "`include_top=True`, leave `classes` at its default (the "
            f"weights') or pass classes={num_classes}, or pass "
            f"`include_top=False`. Received: classes={opts.classes}")
    return num_classes if opts.include_top else opts.classes


def normalizing(entry, opts, checkpoint):
    """The checkpoint whose mean and std the model normalises with: the one
    `weights` names (a hub repository: its config's), else the default of
    this alpha, else of alpha 1, else the first default (timm's `d`
    variants have only theirs)."""
    if checkpoint is not None:
        return checkpoint
    for alpha in (opts.alpha, 1.0, None):
        for c in entry.checkpoints:
            if c.default and alpha in (c.alpha, None):
                return c
    raise ValueError(f"{entry.name} has no checkpoint to normalise with.")
