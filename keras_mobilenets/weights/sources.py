"""Where weights come from: one small class per source, each with
`load(model, include_top, ignore)`.

- `KerasCheckpoint`: an official keras.applications file (with and without
  the top), downloaded into the Keras cache and read by layer name.
- `TimmCheckpoint`: a timm checkpoint of the registry, on the Hugging Face
  hub (`timm/<model>.<tag>`, its safetensors file, through `hub.py`),
  converted with NumPy (`timm.py`); the conversion is cached.
- `HubRepo`: any timm repository of the hub, `weights="hf-hub:<repo_id>"`:
  its `config.json` (architecture, classes, mean and std) and safetensors
  file, converted on load.
- `LocalRepo`: a local folder laid out as a timm repository
  (`config.json`, `model.safetensors`), read as `HubRepo` reads the hub's.
- `LocalFile`: a path: a Keras `.h5` / `.weights.h5` file, or a timm
  `.safetensors` checkpoint, converted on load.

`ignore` names the layers (timm modules) of a top that a file may hold
while the model was built without it.
"""

import dataclasses
import json
import os
import typing
import warnings

from ..errors import WeightsError
from . import cache, h5, hub, timm


def _data_config(checkpoint, weights):
    """timm's data configuration of a Keras or timm checkpoint (square
    sizes), with the `weights=` value that names it."""
    size, test_size = checkpoint.input_size, checkpoint.test_input_size
    config = {
        "input_size": (3, size, size),
        "interpolation": checkpoint.interpolation,
        "crop_pct": checkpoint.crop_pct,
        "crop_mode": checkpoint.crop_mode,
        "mean": tuple(checkpoint.mean),
        "std": tuple(checkpoint.std),
        "num_classes": checkpoint.num_classes,
    }
    if test_size:
        config["test_input_size"] = (3, test_size, test_size)
    if checkpoint.test_crop_pct is not None:
        config["test_crop_pct"] = checkpoint.test_crop_pct
    config["weights"] = weights
    return config


@dataclasses.dataclass(frozen=True)
class KerasCheckpoint:
    """One official keras.applications weight file pair, for one alpha and
    input size (and other arguments in `options`, e.g. minimalistic)."""

    alpha: float
    size: int
    with_top: cache.WeightFile
    no_top: cache.WeightFile
    options: typing.Mapping[str, object] = dataclasses.field(
        default_factory=dict)
    default: bool = True  # what weights="imagenet" may name
    tag: typing.Optional[str] = None  # keras.applications has no tags
    # The eval recipe of the TF-Slim checkpoints these files were converted
    # from (tensorflow/models research/slim, preprocessing/
    # inception_preprocessing.py `preprocess_for_eval`): the central 87.5% of
    # each side, resized bilinearly to the input size, scaled to [-1, 1]. In
    # timm's terms: crop_pct 0.875 in "squash" mode, mean = std = 0.5.
    crop_pct: float = 0.875
    crop_mode: str = "squash"
    interpolation: str = "bilinear"
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    test_input_size: typing.Optional[int] = None
    test_crop_pct: typing.Optional[float] = None
    num_classes: int = 1000

    @property
    def sizes(self):
        return (self.size,)

    @property
    def input_size(self):
        return self.size

    def data_config(self):
        """Its eval recipe in timm's keys (`keras_mobilenets.data_config`);
        `weights` is "imagenet", which names it at its alpha and size."""
        return _data_config(self, "imagenet")

    def load(self, model, include_top, ignore=()):
        path = cache.fetch(self.with_top if include_top else self.no_top)
        h5.load_weights(model, path)


@dataclasses.dataclass(frozen=True)
class TimmCheckpoint:
    """One checkpoint timm publishes on the Hugging Face hub, with its eval
    recipe (timm's `pretrained_cfg`) and published top-1."""

    model: str  # timm architecture, e.g. "mobilenetv4_conv_small_050"
    tag: str  # timm pretrained tag, e.g. "e3000_r224_in1k"
    alpha: float
    input_size: int  # square training resolution
    crop_pct: float
    test_input_size: typing.Optional[int]  # None where timm sets none
    test_crop_pct: typing.Optional[float]
    mean: tuple
    std: tuple
    top1: typing.Optional[float]  # % at input_size and crop_pct
    test_top1: typing.Optional[float]  # % at test_input_size and test_crop_pct
    interpolation: str = "bicubic"
    crop_mode: str = "center"  # resize the shorter side, then center-crop
    default: bool = False  # what weights="imagenet" loads for its alpha
    num_classes: int = 1000  # of its top: 11821 for ImageNet-12k heads
    options: typing.Mapping[str, object] = dataclasses.field(
        default_factory=dict)

    @property
    def sizes(self):
        """The sizes timm reports accuracy at."""
        return tuple(s for s in (self.test_input_size, self.input_size) if s)

    @property
    def hf_hub_id(self):
        return f"timm/{self.model}.{self.tag}"

    @property
    def weights(self):
        """The same checkpoint as a `weights=` string."""
        return hub.spec(self.hf_hub_id)

    def data_config(self):
        """timm's `pretrained_cfg` eval recipe (`keras_mobilenets.
        data_config`); `weights` is its tag."""
        return _data_config(self, self.tag)

    def converted_fname(self, include_top, ignore=()):
        """Name of the cached Keras weights (in the Keras cache) converted
        from the hub's safetensors file (in huggingface_hub's cache); one
        file per set of top modules left out (`ignore`) without the top."""
        left_out = "" if include_top else "_notop" + "".join(
            f"-{module}" for module in ignore)
        return f"{self.model}.{self.tag}{left_out}.h5"

    def load(self, model, include_top, ignore=()):
        """Loads the cached conversion if there is one, else the safetensors
        file of `timm/<model>.<tag>` (downloaded, or from huggingface_hub's
        cache), converted strictly and then cached, so that the second load
        reads a Keras file and needs neither the hub nor a conversion."""
        converted = os.path.join(cache.models_dir(),
                                 self.converted_fname(include_top, ignore))
        if os.path.isfile(converted):
            h5.load_weights(model, converted)
            return
        timm.load_safetensors(model, fetch_safetensors(self.hf_hub_id), ignore)
        # The weights are loaded already, so a cache that cannot be written
        # only costs the next load a conversion.
        try:
            with cache.atomic_path(converted, suffix=".h5") as tmp:
                h5.save_weights_file(model, tmp)
        except OSError as e:
            warnings.warn(
                f"Could not cache the converted weights at {converted}: {e}",
                stacklevel=4)


@dataclasses.dataclass(frozen=True)
class LocalFile:
    """A weights file the user names by its path."""

    path: str

    def load(self, model, include_top, ignore=()):
        if self.path.lower().endswith(".safetensors"):
            timm.load_safetensors(model, self.path, ignore)
            return
        arrays = h5.read_weights_file(self.path)
        if arrays is None:  # Keras 3 layout: the whole model, by structure
            h5.load_weights(model, self.path)
            return
        for name in ignore:  # by layer name: the top may be left out
            arrays.pop(name, None)
        h5.assign_strict(model, arrays, os.path.basename(self.path))


def fetch_safetensors(repo_id, revision=None):
    """The local path of the repository's `model.safetensors`; a repository
    without one (timm's older `pytorch_model.bin`) is refused, and its pickle
    files are never downloaded."""
    try:
        return hub.download(repo_id, hub.WEIGHTS_FILE, revision)
    except hub.MissingFile as e:
        raise WeightsError(
            f"{str(e).rpartition(' Received:')[0]} keras_mobilenets reads "
            "only safetensors checkpoints: pickle files (pytorch_model.bin, "
            ".pth) can run arbitrary code when loaded, so they are never "
            "downloaded or opened. Convert the checkpoint to safetensors, "
            "or use a repository that has model.safetensors. Received: "
            f"weights={hub.spec(repo_id, revision)!r}") from None


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
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) \
                or num_classes < 1:
            raise ValueError(f"num_classes {num_classes!r} is not a count")
        labels, descriptions = _labels(config, cfg, num_classes)
        size, test_size = cfg.get("input_size"), cfg.get("test_input_size")
        return HubConfig(
            architecture=architecture,
            num_classes=num_classes,
            mean=_floats(cfg.get("mean", (0.485, 0.456, 0.406)), 3),
            std=_floats(cfg.get("std", (0.229, 0.224, 0.225)), 3),
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
