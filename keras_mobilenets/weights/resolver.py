"""What a `weights=` value names, in one step: `resolve(pretrained, opts)`
turns None, "imagenet", a checkpoint tag, a path (a file, or a folder laid
out as a timm repository) or "hf-hub:<repo_id>", with the checked
arguments, into the source to load, the top's classes, the checkpoint whose
recipe (mean, std, data config) the model follows and the input rows it is
loaded at. It reads a model's `Pretrained` record (its checkpoints, tags
and hub names), not the registry's whole description of the model: nothing
here imports a model module."""

import dataclasses
import os
import typing
import warnings

from . import hub
from .repos import HubRepo, LocalRepo
from .sources import LocalFile

PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl", ".pickle")
WEIGHT_SUFFIXES = (".h5", ".hdf5", ".keras", ".safetensors")


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """What `resolve` reads of one model (`registry.Entry.pretrained`).

    - `name`: the model's, for messages.
    - `checkpoints`: the checkpoints (`sources`) `weights=` may name.
    - `hub_names`: {timm architecture: alpha} of the timm networks the
      model is, which a hub repository or timm folder must name; empty for
      models that are no timm network.
    - `default_size`: keras.applications' default input size (V1, V2),
      where only the trained sizes take a pretrained top; None: any size.
    - `normalises`: whether the model normalises its input with a
      checkpoint's mean and std (then it needs one).
    - `file_source`: the source of a path `weights=` names (`LocalFile`;
      `SSDLite`'s reads torchvision's state dicts too).
    """

    name: str
    checkpoints: tuple = ()
    hub_names: typing.Mapping[str, float] = dataclasses.field(
        default_factory=dict)
    default_size: typing.Optional[int] = None
    normalises: bool = False
    file_source: typing.Callable = LocalFile

    @property
    def tags(self):
        return tuple(c.tag for c in self.checkpoints if c.tag)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What `weights=` names, for one model.

    - `source`: what to load (a checkpoint of the registry, a `HubRepo`
      or `LocalRepo` with its config read, a `LocalFile`), or None
      (`weights=None`).
    - `classes`: the classes of the top (those of the weights, where they
      bring a top).
    - `recipe`: the checkpoint whose mean and std the model normalises with
      and whose `data_config` it is evaluated with: the one `weights`
      names, else the default of this alpha, else of alpha 1 (None where
      the model has no checkpoint).
    - `rows`: the input rows the weights are loaded at (the model's name).
    - `class_names`: ((class id, name), ...) of the top where the weights
      name them (a hub repository's `label_names`), else None.
    - `data_config`: timm's data configuration of `recipe`.
    """

    source: object
    classes: int
    recipe: object
    rows: typing.Optional[int]
    class_names: typing.Optional[tuple] = None
    data_config: typing.Optional[dict] = None


def resolve(pretrained, opts):
    """The `Resolved` of `opts.weights` for the model of `pretrained` (a
    `Pretrained`) and the checked arguments `opts` (`builder.Options`);
    raises a ValueError
    or TypeError that says what was received and what is allowed, before
    anything but a hub repository's config.json is downloaded."""
    kind, value = _kind(opts.weights, pretrained.tags)
    source, classes, rows, names = None, opts.classes, opts.rows, None
    if kind in ("imagenet", "tag"):
        source, rows = select(pretrained, opts)
        classes = top_classes(opts, source.num_classes,
                              f"weights={opts.weights!r}")
    elif kind == "hub":
        if not pretrained.hub_names:  # refused before any download
            raise ValueError(
                f"{pretrained.name} has no timm counterpart: `weights='hf-hub:...'` "
                "and a timm folder load timm checkpoints into timm's networks "
                "only (MobileNetV4, the Timm* and Tf* models). "
                f"Received: weights={value.weights!r}")
        source = value.read_config()
        classes = check_hub_repo(pretrained, opts, source)
        names = source.class_names if opts.include_top else None
    elif kind == "path":
        source = pretrained.file_source(value)
    recipe = source if kind in ("imagenet", "tag", "hub") else _default(
        pretrained, opts)
    return Resolved(source=source, classes=classes, recipe=recipe, rows=rows,
                    class_names=names,
                    data_config=None if recipe is None else
                    recipe.data_config())


def _kind(weights, tags=()):
    """("none" | "imagenet" | "tag" | "path" | "hub", the value) of None or
    a string (`arguments.weights_value`): a hub repository
    ("hf-hub:<repo_id>[@<revision>]") as a `HubRepo`."""
    if weights is None:
        return "none", None
    if weights == "imagenet":
        return "imagenet", weights
    if weights in tags:
        return "tag", weights
    if weights.startswith(hub.PREFIX):
        return "hub", HubRepo(*hub.parse(weights))
    if os.path.isdir(weights):  # a timm repository's files, in a folder
        return "hub", LocalRepo(weights)
    if weights.lower().endswith(PICKLE_SUFFIXES):
        raise ValueError(
            f"Refusing to read `weights={weights!r}`: pickle checkpoints "
            "(.pth, .pt, .bin, .ckpt, .pkl) can run arbitrary code when loaded, "
            "so they are never opened. Convert it to safetensors first, e.g. "
            "`safetensors.torch.save_file(torch.load(path, weights_only=True), "
            "'model.safetensors')` in a trusted environment."
        )
    if not os.path.isfile(weights):
        allowed = "None, 'imagenet'"
        if tags:
            allowed += ", one of the tags " + ", ".join(repr(t) for t in tags)
        raise ValueError(
            f"`weights` must be {allowed}, 'hf-hub:<repo_id>' (a timm "
            "repository of the Hugging Face hub), the path to an existing weights "
            f"file ({', '.join(WEIGHT_SUFFIXES)}) or a folder with a timm "
            "config.json and model.safetensors. "
            f"Received: weights={weights!r}, which is not an existing file."
        )
    return "path", weights


def _default(pretrained, opts):
    """The checkpoint a model without one named normalises with and is
    evaluated with: a default of this alpha (else of alpha 1, else any:
    timm's `d` models have only theirs), one for the other arguments where
    there is one, at the model's square input size where there is one for
    it, else at the largest size."""
    defaults = [c for c in pretrained.checkpoints if c.default]
    square = opts.rows if opts.rows == opts.cols else None
    for alpha in (opts.alpha, 1.0, None):  # None: any alpha
        at = [c for c in defaults if alpha in (c.alpha, None)]
        found = [c for c in at if _matches(c, opts)] or at
        if found:
            return next((c for c in found if square in c.sizes),
                        max(found, key=lambda c: c.input_size))
    if getattr(opts, "include_preprocessing", False) and pretrained.normalises:
        raise ValueError(
            f"{pretrained.name} has no checkpoint to normalise with.")
    return None


def _matches(checkpoint, opts):
    return all(getattr(opts, k) == v for k, v in checkpoint.options.items())


def candidates(pretrained, opts):
    """The checkpoints `opts.weights` may name, before alpha and size."""
    if opts.weights == "imagenet":
        return [c for c in pretrained.checkpoints
                if c.default and _matches(c, opts)]
    return [c for c in pretrained.checkpoints
            if c.tag == opts.weights and _matches(c, opts)]


def _option_text(pretrained, opts):
    """The arguments other than alpha that choose a checkpoint, as text."""
    keys = {k for c in pretrained.checkpoints for k in c.options}
    return "".join(f", {k}={getattr(opts, k)}" for k in sorted(keys))


def select(pretrained, opts):
    """(checkpoint, rows): the checkpoint `opts.weights` ("imagenet" or a
    tag) names at this alpha and input size, and the rows it is loaded at;
    raises a ValueError that says what exists."""
    rows, cols = opts.rows, opts.cols
    found = candidates(pretrained, opts)
    alphas = sorted({c.alpha for c in found})
    if opts.alpha not in alphas:
        if not found:  # another argument rules every checkpoint out
            wanted = sorted({f"{k}={v}" for c in pretrained.checkpoints
                             for k, v in c.options.items()
                             if getattr(opts, k) != v})
            raise ValueError(
                f"{pretrained.name} has ImageNet weights only for "
                f"{', '.join(wanted)}. Received:"
                f"{_option_text(pretrained, opts)[1:]}")
        tag = f", weights={opts.weights!r}" if opts.weights != "imagenet" else ""
        raise ValueError(
            f"{pretrained.name} has ImageNet weights for alpha in {alphas} "
            f"with these arguments. Received: alpha={opts.alpha}"
            f"{_option_text(pretrained, opts)}{tag}")
    found = [c for c in found if c.alpha == opts.alpha]
    sizes = sorted({s for c in found for s in c.sizes})
    for c in found:
        if rows == cols and rows in c.sizes:
            return c, rows
    if opts.include_top and pretrained.default_size is not None:
        # Generations with a default size (V1, V2) take only the trained
        # sizes under their pretrained top, as keras.applications does.
        raise ValueError(
            "With `weights='imagenet'` and `include_top=True`, "
            f"{pretrained.name} takes square inputs of size {sizes}. Received: "
            f"input_shape={opts.input_shape}")
    size = found[-1].sizes[-1]
    if opts.input_shape is not None or opts.input_tensor is not None:
        warnings.warn(
            f"There are no ImageNet weights of {pretrained.name} for input "
            f"size {rows}x{cols}; loading those for {size}x{size}.",
            stacklevel=6)  # the user's call of the public builder
    return found[-1], size


def check_hub_repo(pretrained, opts, repo):
    """Checks that the timm repository `repo` (a `HubRepo` with its config
    read) holds this model at this alpha; returns the number of classes of
    the top (`top_classes`)."""
    names = pretrained.hub_names
    held = repo.architecture
    received = f"Received: weights={repo.weights!r}, alpha={opts.alpha}"
    if held in names and names[held] != opts.alpha:
        raise ValueError(
            f"{repo.weights} holds timm's {held!r}, which is "
            f"{pretrained.name} with alpha={names[held]}. {received}")
    if held not in names:
        called = {a: n for n, a in names.items()}.get(opts.alpha)
        raise ValueError(
            f"{repo.weights} holds timm's {held!r}, another model than "
            f"{pretrained.name} (timm's {', '.join(repr(n) for n in names)}"
            + (f"; {called!r} at this alpha" if called else "") + "). "
            f"{received}")
    return top_classes(opts, repo.num_classes, repo.weights)


def top_classes(opts, num_classes, source):
    """The classes of the top with weights of `num_classes` classes (a
    checkpoint's or a hub repository's): those where `classes` is left at
    its default (1000) or equals them; else a ValueError. Weights without
    a classifier (0 classes) take no top."""
    if opts.include_top and num_classes == 0:
        raise ValueError(
            f"{source} has no classifier: pass `include_top=False` (with "
            "`pooling` for pooled features). Received: include_top=True")
    if opts.include_top and opts.classes not in (num_classes, 1000):
        raise ValueError(
            f"{source} has a top of {num_classes} classes: with "
            "`include_top=True`, leave `classes` at its default (the "
            f"weights') or pass classes={num_classes}, or pass "
            f"`include_top=False`. Received: classes={opts.classes}")
    return num_classes if opts.include_top else opts.classes
