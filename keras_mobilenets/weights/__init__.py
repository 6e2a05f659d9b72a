"""Weights: what a `weights=` value names, `resolve(pretrained, opts)`
(`resolver.py`), and one entry point, `load(model, source)`, for every source
(`sources.py`; timm repositories, hub or folder: `repos.py`), over the Hugging Face hub (`hub.py`), a strict loader (`h5.py`), a NumPy converter of timm
checkpoints (`timm.py`) and the Keras cache (`cache.py`). Nothing here
imports a model module."""

import os

from ..errors import DownloadError, WeightsError  # noqa: F401
from .cache import WeightFile, cache_dir, copy_into_cache, fetch  # noqa: F401
from .h5 import (  # noqa: F401
    assign_strict,
    canonical_layer_name,
    load_weights,
    read_weights_file,
    save_weights_file,
)
from . import hub  # noqa: F401
from .repos import HubConfig, HubRepo, LocalRepo  # noqa: F401
from .sources import (  # noqa: F401
    KerasCheckpoint,
    LocalFile,
    SSDLiteFile,
    TimmCheckpoint,
)
from .resolver import Pretrained, Resolved, resolve  # noqa: F401


def load(model, source, include_top=True, ignore=()):
    """Loads `source` into `model`, all or nothing: a checkpoint of the
    registry, a `HubRepo`, a `LocalFile`, or a path (str or os.PathLike). `ignore` names
    the layers of a top that the source may hold and the model lacks."""
    if not hasattr(source, "load"):
        source = LocalFile(os.fspath(source))
    source.load(model, include_top, ignore)
