"""timm repositories as weight sources: `HubRepo`, any timm repository of
the Hugging Face hub (`weights="hf-hub:<repo_id>"`), and `LocalRepo`, a
local folder laid out as one (`config.json`, `model.safetensors`): the
config's architecture, classes, mean, std and eval recipe, and the
safetensors file, converted on load."""

import dataclasses
import json
import os
import typing

from ..errors import WeightsError
from . import hub, timm
from .sources import IMAGENET, fetch_safetensors


@dataclasses.dataclass(frozen=True)
class HubConfig:
    """What a timm repository's `config.json` says: the architecture, the
    classes (and their names where it lists them), and the eval recipe
    (`pretrained_cfg`)."""

    architecture: str
    num_classes: int
    mean: tuple
    std: tuple
    input_size: typing.Optional[tuple] = None  # (channels, rows, cols)
    crop_pct: typing.Optional[float] = None
    interpolation: typing.Optional[str] = None
    crop_mode: typing.Optional[str] = None
    test_input_size: typing.Optional[tuple] = None
    test_crop_pct: typing.Optional[float] = None
    label_names: typing.Optional[tuple] = None  # per class; None in gaps
    label_descriptions: typing.Optional[tuple] = None  # per class, or None
    license: typing.Optional[str] = None  # pretrained_cfg's: "gemma" (V5)

    @property
    def class_names(self):
        """((class id, class name), ...) per output of the top, as
        keras.applications' `decode_predictions` names ImageNet's classes
        (WordNet id, name): timm's label name and its description (the
        name again where there is none, the index where a sparse
        `label_names` has a gap); None without `label_names`."""
        if self.label_names is None:
            return None
        descriptions = self.label_descriptions or (None,) * self.num_classes
        out = []
        for i, (name, text) in enumerate(zip(self.label_names, descriptions)):
            name = str(i) if name is None else name
            out.append((name, name if text is None else text))
        return tuple(out)


def _floats(value, n):
    if (not isinstance(value, (list, tuple)) or len(value) != n
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in value)):
        raise ValueError(f"{n} numbers expected, got {value!r}")
    return tuple(float(v) for v in value)


def _labels(config, cfg, num_classes):
    """(label names, descriptions) per class of a timm config, or (None,
    None). As timm reads them (`_hub._parse_model_cfg`): at the top level
    (where `push_to_hf_hub` writes them) or in `pretrained_cfg`, the old
    single-dict `labels` too; names a list or a sparse {index: name},
    descriptions {name: description}."""
    names = config.get("label_names", cfg.get("label_names"))
    if names is None and "pretrained_cfg" not in config:
        names = config.get("labels")
    if not names:
        return None, None
    if isinstance(names, dict):
        by_index = {int(i): str(n) for i, n in names.items()}
        if not all(0 <= i < num_classes for i in by_index):
            raise ValueError(f"label_names indices {sorted(by_index)} outside "
                             f"the {num_classes} classes")
        names = tuple(by_index.get(i) for i in range(num_classes))
    elif isinstance(names, list) and len(names) == num_classes:
        names = tuple(str(n) for n in names)
    else:
        raise ValueError(f"label_names must be a list of {num_classes} names "
                         f"or {{index: name}}, got {len(names)} entries")
    texts = config.get("label_descriptions",
                       cfg.get("label_descriptions")) or {}
    if not isinstance(texts, dict):
        raise ValueError("label_descriptions must be {name: description}")
    return names, (tuple(None if n is None or n not in texts else
                         str(texts[n]) for n in names) if texts else None)


def parse_config(text, where):
    """A `HubConfig` from the text of a timm `config.json`; a clear
    WeightsError for anything else (`where` names it)."""
    try:
        config = json.loads(text)
        cfg = config.get("pretrained_cfg") or {}
        architecture = config["architecture"]
        if not isinstance(architecture, str):
            raise ValueError(f"architecture {architecture!r} is not a name")
        num_classes = config.get("num_classes", cfg.get("num_classes", 1000))
        # 0: no classifier (timm's mobilenetv5_300m.gemma3n)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) \
                or num_classes < 0:
            raise ValueError(f"num_classes {num_classes!r} is not a count")
        labels, descriptions = _labels(config, cfg, num_classes)
        size, test_size = cfg.get("input_size"), cfg.get("test_input_size")
        return HubConfig(
            architecture=architecture,
            num_classes=num_classes,
            mean=_floats(cfg.get("mean", IMAGENET[0]), 3),
            std=_floats(cfg.get("std", IMAGENET[1]), 3),
            input_size=None if size is None else tuple(
                int(v) for v in _floats(size, 3)),
            crop_pct=cfg.get("crop_pct"),
            interpolation=cfg.get("interpolation"),
            crop_mode=cfg.get("crop_mode"),
            test_input_size=None if test_size is None else tuple(
                int(v) for v in _floats(test_size, 3)),
            test_crop_pct=cfg.get("test_crop_pct"),
            label_names=labels,
            label_descriptions=descriptions,
            license=cfg.get("license"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise WeightsError(
            f"{where} is not a timm config.json ({type(e).__name__}: {e}): "
            "it needs an `architecture`, and may give `num_classes`, "
            "`label_names` and `pretrained_cfg` (`mean`, `std`, ...)."
        ) from None


def _of_config(field):
    """A read-only property of a timm repository: `field` of its
    `HubConfig`."""
    return property(lambda repo: getattr(repo._config(), field),
                    doc=f"`{field}` of the repository's config.json.")


class _TimmRepo:
    """What a timm repository's `config.json` gives (`read_config` returns
    the repository with its `config`): the architecture, `num_classes`,
    `mean` and `std` (what `include_preprocessing=True` normalises with),
    `label_names` and `class_names`, and `data_config`."""

    def _config(self):
        return self.read_config().config

    # What its config.json says (read on first use): see `HubConfig`.
    architecture = _of_config("architecture")
    num_classes = _of_config("num_classes")
    mean = _of_config("mean")
    std = _of_config("std")
    label_names = _of_config("label_names")
    class_names = _of_config("class_names")
    license = _of_config("license")

    def data_config(self):
        """The eval recipe of its config.json's `pretrained_cfg`, with
        timm's defaults (`resolve_data_config`) where it gives none;
        `weights` is the `weights=` value that names the repository."""
        cfg = self._config()
        config = {
            "input_size": cfg.input_size or (3, 224, 224),
            "interpolation": cfg.interpolation or "bicubic",
            "crop_pct": cfg.crop_pct or 0.875,
            "crop_mode": cfg.crop_mode or "center",
            "mean": cfg.mean,
            "std": cfg.std,
            "num_classes": cfg.num_classes,
        }
        if cfg.test_input_size:
            config["test_input_size"] = cfg.test_input_size
        if cfg.test_crop_pct is not None:
            config["test_crop_pct"] = cfg.test_crop_pct
        config["weights"] = self.weights
        return config


@dataclasses.dataclass(frozen=True)
class HubRepo(_TimmRepo):
    """A timm repository on the Hugging Face hub, `weights="hf-hub:<repo_id>"`
    (optionally "@<revision>": a branch, tag or commit). The safetensors
    file is read strictly and converted on each load (huggingface_hub
    caches the download)."""

    repo_id: str
    revision: typing.Optional[str] = None
    config: typing.Optional[HubConfig] = None

    @property
    def weights(self):
        return hub.spec(self.repo_id, self.revision)

    def read_config(self):
        """This repository with its `config.json` read (downloaded, or from
        huggingface_hub's cache)."""
        if self.config is not None:
            return self
        try:
            path = hub.download(self.repo_id, hub.CONFIG_FILE, self.revision)
        except hub.MissingFile as e:
            raise WeightsError(
                f"{str(e).rpartition(' Received:')[0]} It is not a timm "
                "model repository: its config.json names the architecture "
                "the weights belong to. Received: "
                f"weights={self.weights!r}") from None
        with open(path, encoding="utf8") as f:
            text = f.read()
        config = parse_config(text, f"{hub.CONFIG_FILE} of {self.weights}")
        return dataclasses.replace(self, config=config)

    def load(self, model, include_top, ignore=()):
        path = fetch_safetensors(self.repo_id, self.revision)
        timm.load_safetensors(model, path, ignore)


@dataclasses.dataclass(frozen=True)
class LocalRepo(_TimmRepo):
    """A local folder laid out as a timm hub repository (`weights=` its
    path): `config.json` and `model.safetensors`, converted on load."""

    path: str
    config: typing.Optional[HubConfig] = None

    @property
    def weights(self):
        return self.path

    def _file(self, name, why):
        path = os.path.join(self.path, name)
        if not os.path.isfile(path):
            held = ", ".join(sorted(os.listdir(self.path))) or "nothing"
            raise WeightsError(
                f"The folder {self.path} has no {name} ({why}); it holds "
                f"{held}. A timm folder holds config.json and "
                "model.safetensors (pickle files, pytorch_model.bin or .pth, "
                "are never opened). Received: "
                f"weights={self.path!r}")
        return path

    def read_config(self):
        """This folder with its `config.json` read; refused where it has
        no `model.safetensors`."""
        if self.config is not None:
            return self
        path = self._file(hub.CONFIG_FILE, "the architecture of the weights")
        self._file(hub.WEIGHTS_FILE, "the weights")
        with open(path, encoding="utf8") as f:
            config = parse_config(f.read(), path)
        return dataclasses.replace(self, config=config)

    def load(self, model, include_top, ignore=()):
        timm.load_safetensors(
            model, self._file(hub.WEIGHTS_FILE, "the weights"), ignore)
