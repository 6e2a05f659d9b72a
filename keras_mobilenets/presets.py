"""`from_preset(preset, **arguments)`, keras-hub's convention: the model of a
timm checkpoint named by "<architecture>.<tag>", a hub handle or a folder."""

import os

from . import registry
from .weights import hub
from .weights.repos import HubRepo, LocalRepo

KERAS_HUB_PREFIX = "hf://"  # keras-hub's handle; timm's is hub.PREFIX
SET_BY_PRESET = ("weights", "alpha")


def from_preset(preset, **arguments):
    """The registered model of a timm checkpoint, with its weights, classes
    (and their names where the repository lists them) and data config.

    `preset` is a timm name with its tag ("mobilenetv2_120d.ra_in1k",
    "mobilenetv4_conv_small.e2400_r224_in1k": a checkpoint of the registry
    needs no download before its weights), a Hugging Face hub handle
    ("hf://timm/<name>.<tag>" as keras-hub writes it, "hf-hub:timm/..." as
    timm does, either with "@<revision>"), or a local folder holding a timm
    `config.json` and `model.safetensors`. `arguments` are those of the
    model's builder (`include_top`, `input_shape`, `pooling`,
    `output_stride`, ...) except `weights` and `alpha`, which the preset
    sets. The model takes pixels in [0, 255] and normalises them with the
    checkpoint's mean and std.
    """
    entry, alpha, weights = resolve(preset)
    _check_arguments(entry, arguments, os.fspath(preset))
    return entry.builder(weights=weights, alpha=alpha, **arguments)


def resolve(preset):
    """(registry entry, alpha, `weights=` value) of `preset`, reading at
    most a repository's config.json."""
    if not isinstance(preset, (str, os.PathLike)):
        raise TypeError("`preset` must be a string or a path. Received: "
                        f"preset={preset!r} of type {type(preset).__name__}")
    preset = os.fspath(preset)
    architecture, weights = _architecture_and_weights(preset)
    entry, alpha = _lookup(architecture, preset)
    return entry, alpha, weights


def _architecture_and_weights(preset):
    """(timm architecture, the `weights=` value that loads the preset),
    reading at most a repository's config.json."""
    if os.path.isdir(preset):
        return LocalRepo(preset).read_config().architecture, preset
    if preset.startswith(KERAS_HUB_PREFIX):
        preset = hub.PREFIX + preset[len(KERAS_HUB_PREFIX):]
    if preset.startswith(hub.PREFIX):
        repo = HubRepo(*hub.parse(preset))
        name = _registry_name(repo.repo_id, repo.revision)
        if name is not None:  # a checkpoint of the registry: no config read
            return name
        return repo.read_config().architecture, repo.weights
    architecture, dot, tag = preset.partition(".")
    if not dot or not architecture or not tag or "/" in preset:
        raise ValueError(
            "`preset` must be a timm name with its tag "
            "('mobilenetv2_120d.ra_in1k'), a hub handle ('hf://timm/...' or "
            "'hf-hub:timm/...') or a folder with config.json and "
            f"model.safetensors. Received: preset={preset!r}")
    name = _registry_name(f"timm/{preset}")
    if name is not None:
        return name
    _lookup(architecture, preset)  # an unknown name fails before the hub
    repo = HubRepo(f"timm/{preset}")
    return repo.read_config().architecture, repo.weights


def _registry_name(repo_id, revision=None):
    """(architecture, tag) where `repo_id` is "timm/<architecture>.<tag>" of
    a registry checkpoint (at no revision), else None."""
    owner, _, name = repo_id.partition("/")
    architecture, _, tag = name.partition(".")
    if owner != "timm" or revision is not None:
        return None
    found = registry.timm_names().get(architecture)
    if found and any(c.model == architecture and c.tag == tag
                     for c in found[0].checkpoints):
        return architecture, tag
    return None


def _lookup(architecture, preset):
    names = registry.timm_names()
    if architecture not in names:
        raise ValueError(
            f"{preset} names timm's {architecture!r}, which is no registered "
            "model; known timm architectures: "
            f"{', '.join(sorted(names))}. Received: preset={preset!r}")
    return names[architecture]


def _check_arguments(entry, arguments, preset):
    """A TypeError for an argument the builder does not take, or one the
    preset sets, before anything is built or downloaded."""
    taken = [a for a in entry.arguments if a not in SET_BY_PRESET]
    wrong = sorted(set(arguments) - set(taken))
    if wrong:
        why = ("set by the preset" if set(wrong) <= set(SET_BY_PRESET)
               else f"not {'an argument' if len(wrong) == 1 else 'arguments'}"
               f" of {entry.name}")
        raise TypeError(
            f"from_preset({preset!r}) builds {entry.name}; {', '.join(wrong)}"
            f" {'is' if len(wrong) == 1 else 'are'} {why}. It takes: "
            f"{', '.join(taken)}. Received: "
            + ", ".join(f"{k}={arguments[k]!r}" for k in wrong))
