"""Files of Hugging Face hub repositories, through `huggingface_hub`: its
cache, revisions, tokens, `HF_ENDPOINT` and `HF_HUB_OFFLINE`.

huggingface_hub is imported on first use, not with the package (a tenth of
a second that a model built from a local file does not need). It reads its
environment variables once, when it is imported; `download` reads `HF_ENDPOINT`, `HF_HUB_CACHE` / `HF_HOME` and
`HF_HUB_OFFLINE` again at call time, so that they may be set after import.
Only safetensors and JSON files are ever fetched: pickle checkpoints are
never downloaded, let alone opened.
"""

import importlib
import os

from ..errors import DownloadError, WeightsError

PREFIX = "hf-hub:"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def _hub(module=""):
    """huggingface_hub, or its submodule `module`, imported on first use."""
    return importlib.import_module("huggingface_hub" + module)


def _true(value):
    return (value or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def offline():
    """`HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`), read at call time."""
    return (_true(os.environ.get("HF_HUB_OFFLINE"))
            or _true(os.environ.get("TRANSFORMERS_OFFLINE"))
            or _hub(".constants").HF_HUB_OFFLINE)


def endpoint():
    """`HF_ENDPOINT` read at call time, else huggingface_hub's own."""
    value = os.environ.get("HF_ENDPOINT")
    return value.rstrip("/") if value else _hub(".constants").ENDPOINT


def hub_cache():
    """huggingface_hub's cache folder (`HF_HUB_CACHE`, else `$HF_HOME/hub`),
    read at call time, else huggingface_hub's own."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return _hub(".constants").HF_HUB_CACHE


def spec(repo_id, revision=None):
    """The `weights` string of a repository: "hf-hub:<repo_id>[@<revision>]"."""
    return f"{PREFIX}{repo_id}" + (f"@{revision}" if revision else "")


def parse(weights):
    """(repo_id, revision or None) of "hf-hub:<repo_id>[@<revision>]"."""
    rest = weights[len(PREFIX):]
    repo_id, _, revision = rest.partition("@")
    hub_errors = _hub(".errors")
    try:
        _hub(".utils").validate_repo_id(repo_id)
        ok = repo_id.count("/") == 1 and (revision or "@" not in rest)
    except hub_errors.HFValidationError:
        ok = False
    if not ok:
        raise ValueError(
            "`weights` names a Hugging Face hub repository as "
            "'hf-hub:<owner>/<name>' or 'hf-hub:<owner>/<name>@<revision>', "
            "e.g. 'hf-hub:timm/mobilenetv4_conv_medium.e500_r256_in1k'. "
            f"Received: weights={weights!r}")
    return repo_id, revision or None


class MissingFile(WeightsError):
    """The repository exists but does not hold the file."""


def download(repo_id, filename, revision=None):
    """The local path of `filename` of a hub repository, downloaded into
    huggingface_hub's cache unless it is there already (offline: only from
    there). Errors say what is missing and end with what was received."""
    received = f"Received: weights={spec(repo_id, revision)!r}"
    base = endpoint()
    huggingface_hub, hub_errors = _hub(), _hub(".errors")
    url = huggingface_hub.hf_hub_url(repo_id, filename, revision=revision,
                                     endpoint=base)
    try:
        return huggingface_hub.hf_hub_download(
            repo_id, filename, revision=revision, cache_dir=hub_cache(),
            endpoint=base, local_files_only=offline(),
            library_name="keras_mobilenets")
    except hub_errors.LocalEntryNotFoundError:
        why = ("offline (HF_HUB_OFFLINE is set)" if offline() else
               "could not be reached")
        raise DownloadError(
            f"{filename} of the Hugging Face hub repository {repo_id} is not "
            f"in the huggingface_hub cache ({hub_cache()}) and the hub ({base}) "
            f"is {why}. Download it once with network access (the cache is "
            "then used offline), or pass `weights=` the path of a local "
            f"file. {received}", url, hub_cache()) from None
    except hub_errors.RemoteEntryNotFoundError:
        raise MissingFile(
            f"The Hugging Face hub repository {repo_id} has no {filename}"
            f"{'' if revision is None else f' at revision {revision!r}'}. "
            f"{received}") from None
    except hub_errors.GatedRepoError:
        raise WeightsError(
            f"The Hugging Face hub repository {repo_id} is gated: accept its "
            "terms on the hub and log in (`hf auth login`, or set HF_TOKEN). "
            f"{received}") from None
    except hub_errors.RepositoryNotFoundError:
        raise WeightsError(
            f"There is no Hugging Face hub repository {repo_id} at {base} (or "
            "it is private: log in with `hf auth login`, or set HF_TOKEN). "
            f"{received}") from None
    except hub_errors.RevisionNotFoundError:
        raise WeightsError(
            f"The Hugging Face hub repository {repo_id} has no revision "
            f"{revision!r}. {received}") from None
    except (OSError, hub_errors.HfHubHTTPError) as e:
        raise DownloadError(
            f"Could not download {filename} of the Hugging Face hub "
            f"repository {repo_id} from {base} ({type(e).__name__}: {e}). "
            f"{received}", url, hub_cache()) from None
