"""Where weights come from: one small class per source, each with
`load(model, include_top, ignore)`.

- `KerasCheckpoint`: an official keras.applications file (with and without
  the top), downloaded into the Keras cache and read by layer name.
- `TimmCheckpoint`: a timm checkpoint on the Hugging Face hub (safetensors),
  converted with NumPy (`timm.py`); the conversion is cached.
- `LocalFile`: a path: a Keras `.h5` / `.weights.h5` file, or a timm
  `.safetensors` checkpoint, converted on load.

`ignore` names the layers (timm modules) of a top that a file may hold
while the model was built without it.
"""

import dataclasses
import os
import typing
import warnings

from . import cache, h5, timm

HF_URL = "https://huggingface.co/{hf_hub_id}/resolve/main/model.safetensors"


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

    @property
    def sizes(self):
        return (self.size,)

    @property
    def input_size(self):
        return self.size

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
    def url(self):
        return HF_URL.format(hf_hub_id=self.hf_hub_id)

    @property
    def weight_file(self):
        """The download: timm's safetensors file, cached under this name.
        The hub publishes no hash we could pin offline."""
        return cache.WeightFile(f"{self.model}.{self.tag}.safetensors", self.url)

    def converted_fname(self, include_top):
        """Name of the cached Keras weights converted from `weight_file`."""
        return f"{self.model}.{self.tag}{'' if include_top else '_notop'}.h5"

    def load(self, model, include_top, ignore=()):
        """Loads the cached conversion if there is one, else the downloaded
        (or cached) safetensors file, converted strictly and then cached, so
        that the second load reads a Keras file."""
        converted = os.path.join(cache.models_dir(),
                                 self.converted_fname(include_top))
        if os.path.isfile(converted):
            h5.load_weights(model, converted)
            return
        timm.load_safetensors(model, cache.fetch(self.weight_file), ignore)
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
