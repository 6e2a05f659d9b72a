"""Where weights come from: one small class per source, each with
`load(model, include_top, ignore)`.

- `KerasCheckpoint`: an official keras.applications file (with and without
  the top), downloaded into the Keras cache and read by layer name.
- `TimmCheckpoint`: a timm checkpoint of the registry, on the Hugging Face
  hub (`timm/<model>.<tag>`, its safetensors file, through `hub.py`),
  converted with NumPy (`timm.py`); the conversion is cached.
- `HubRepo`, `LocalRepo` (`repos.py`): a timm repository of the hub
  (`weights="hf-hub:<repo_id>"`) or a local folder laid out as one, by its
  `config.json` and safetensors file, converted on load.
- `LocalFile`: a path: a Keras `.h5` / `.weights.h5` file, or a timm
  `.safetensors` checkpoint, converted on load.
- `SSDLiteFile`: a path `detection.SSDLite` names: torchvision's SSDLite
  state dict as `.safetensors`, converted by torchvision's module names
  (`torchvision.py`), else a Keras file as `LocalFile`.

`ignore` names the layers (timm modules) of a top that a file may hold
while the model was built without it.
"""

import dataclasses
import os
import typing
import warnings

from ..errors import WeightsError
from . import cache, h5, hub, timm, torchvision

# The (mean, std) of checkpoints, defined once: timm's IMAGENET_DEFAULT_*
# and IMAGENET_INCEPTION_* (timm/data/constants.py; the latter also the
# TF-Slim checkpoints' [-1, 1]), and the [0, 1] inputs of timm's miil ones.
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
ZERO_ONE = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


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
    key: str = ""  # "<Keras model and alpha>.r<size>_in1k" (`checkpoints`)
    # The eval recipe of the TF-Slim checkpoints these files were converted
    # from (tensorflow/models research/slim, preprocessing/
    # inception_preprocessing.py `preprocess_for_eval`): the central 87.5% of
    # each side, resized bilinearly to the input size, scaled to [-1, 1]. In
    # timm's terms: crop_pct 0.875 in "squash" mode, mean = std = 0.5.
    crop_pct: float = 0.875
    crop_mode: str = "squash"
    interpolation: str = "bilinear"
    mean: tuple = INCEPTION[0]
    std: tuple = INCEPTION[1]
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
    def key(self):
        """"<architecture>.<tag>", as timm keys its `default_cfgs`."""
        return f"{self.model}.{self.tag}"

    @property
    def hf_hub_id(self):
        return f"timm/{self.key}"

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


@dataclasses.dataclass(frozen=True)
class SSDLiteFile:
    """A weights file of an SSDLite detector: a torchvision SSDLite state
    dict (.safetensors), which loads only into the detector on `backbone`,
    the one whose layer `stem` it names; else a Keras file (`LocalFile`)."""

    path: str
    backbone: str  # the registry name of torchvision's backbone
    stem: str  # its stem conv's layer name, which only it has

    def load(self, model, include_top, ignore=()):
        if not self.path.lower().endswith(".safetensors"):
            LocalFile(self.path).load(model, include_top, ignore)
            return
        if self.stem not in {layer.name for layer in model.layers}:
            raise ValueError(
                "A torchvision SSDLite state dict loads into "
                f"SSDLite({self.backbone!r}, ...) only (torchvision's padding "
                "and module names). Received: a model without its layer "
                f"{self.stem!r} ({model.name!r}), weights={self.path!r}")
        torchvision.load_ssdlite_safetensors(model, self.path)


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
