"""The Keras cache folder: downloads are verified before they are trusted,
and every file is written beside its target and renamed into place, so a
reader never sees a partial file."""

import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile

import keras

from ..errors import DownloadError, WeightsError


@dataclasses.dataclass(frozen=True)
class WeightFile:
    """One downloadable weights file. `file_hash` is an MD5 or SHA-256 hex
    digest (told apart by length, as `keras.utils.get_file` does), or None
    where upstream publishes none."""

    fname: str
    url: str
    file_hash: str = None


def cache_dir():
    """The Keras cache folder (`$KERAS_HOME`, else ~/.keras), read at call time."""
    return os.path.expanduser(
        os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    )


def models_dir(subdir="models"):
    return os.path.join(cache_dir(), subdir)


def _hash_ok(path, file_hash):
    if file_hash is None:
        return True
    algorithm = hashlib.sha256 if len(file_hash) == 64 else hashlib.md5
    digest = algorithm()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == file_hash


def fetch(entry, subdir="models"):
    """Returns the local path of `entry`, downloading it if it is not cached.

    A cached file is used only if its hash (when one is pinned) matches. A
    download goes through `keras.utils.get_file` into a temporary folder
    beside the cache and is moved into place only once it verifies, so an
    interrupted or corrupted download never leaves a file a later run trusts.
    """
    folder = models_dir(subdir)
    target = os.path.join(folder, entry.fname)
    if os.path.isfile(target) and _hash_ok(target, entry.file_hash):
        return target
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp:
        try:
            path = keras.utils.get_file(
                entry.fname, entry.url, cache_dir=tmp, cache_subdir=""
            )
        except Exception as e:
            raise DownloadError(
                f"Could not download the weights file {entry.fname} from "
                f"{entry.url} ({e}). Without network access, download it "
                f"elsewhere and copy it to {target}, or pass `weights=` the "
                "path of a local file.",
                entry.url, target,
            ) from None
        if not _hash_ok(path, entry.file_hash):
            raise WeightsError(
                f"The download of {entry.url} is corrupted: its hash is not "
                f"{entry.file_hash}."
            )
        # Atomic on one file system: a concurrent reader sees the old file or
        # the whole new one, never a partial one.
        os.replace(path, target)
    return target


@contextlib.contextmanager
def atomic_path(target, suffix=""):
    """Yields a temporary path beside `target`, renamed onto `target` when
    the block succeeds and removed when it fails."""
    folder = os.path.dirname(target) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def copy_into_cache(path, fname=None, subdir="models"):
    """Copies a local file into the Keras cache under its official name
    (atomically), so that `weights="imagenet"` finds it offline."""
    target = os.path.join(models_dir(subdir), fname or os.path.basename(path))
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    return target
