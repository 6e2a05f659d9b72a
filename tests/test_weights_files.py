"""Weight files: strict loading, bad files rejected, the cache never half-written."""

import hashlib
import os
import re

import h5py
import keras
import numpy as np
import pytest

import keras_mobilenets as km
from conftest import layer_arrays, randomize, write_legacy_h5
from keras_mobilenets import weights as weights_lib

SMALL = dict(alpha=0.75, include_top=False, input_shape=(64, 64, 3))


@pytest.fixture(scope="module")
def source():
    """A small randomized V3 model and its weights as {layer: [arrays]}."""
    model = randomize(km.MobileNetV3Small(weights=None, minimalistic=True, **SMALL))
    return layer_arrays(model)


def _fresh():
    return km.MobileNetV3Small(weights=None, minimalistic=True, **SMALL)


def _snapshot(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.weights]


def _assert_untouched(model, before):
    for v, old in zip(model.weights, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), old)


def _keras2_name(name):
    """The Keras 2 (tf.keras) spelling of a MobileNetV3 layer name, as in the
    official files: "expanded_conv_3/squeeze_excite/Conv_1", "Conv/BatchNorm"."""
    top = {"conv": "Conv", "conv_bn": "Conv/BatchNorm", "conv_1": "Conv_1",
           "conv_1_bn": "Conv_1/BatchNorm", "conv_2": "Conv_2", "logits": "Logits"}
    if name in top:
        return top[name]
    m = re.match(r"(expanded_conv(?:_\d+)?)_(.*)", name)
    rest = m.group(2).replace("squeeze_excite_conv", "squeeze_excite/Conv")
    rest = re.sub(r"_bn$", "/BatchNorm", rest)
    return f"{m.group(1)}/{rest}"


def test_legacy_file_with_keras2_names_loads(source, tmp_path):
    path = write_legacy_h5(tmp_path / "k2.h5",
                           {_keras2_name(n): a for n, a in source.items()})
    model = km.MobileNetV3Small(weights=str(path), minimalistic=True, **SMALL)
    assert layer_arrays(model).keys() == source.keys()
    for name, arrays in layer_arrays(model).items():
        for got, want in zip(arrays, source[name]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("damage, message", [
    ("missing", r"1 missing from the file: expanded_conv_2_project"),
    ("extra", r"1 in the file but not in the model: stray_dense"),
    ("shape", r"shape mismatch: conv_1_bn"),
])
def test_mismatched_file_rejected_and_model_untouched(source, tmp_path, damage,
                                                      message):
    layers = dict(source)
    if damage == "missing":
        del layers["expanded_conv_2_project"]
    elif damage == "extra":
        layers["stray_dense"] = [np.zeros((4, 2), "float32")]
    else:
        layers["conv_1_bn"] = [a[:-1] for a in layers["conv_1_bn"]]
    path = write_legacy_h5(tmp_path / "bad.h5", layers)
    model = _fresh()
    before = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        weights_lib.load_weights(model, str(path))
    _assert_untouched(model, before)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_refused_and_model_untouched(source, tmp_path, value):
    layers = {name: [a.copy() for a in arrays] for name, arrays in source.items()}
    layers["expanded_conv_2_project"][0].flat[5] = value
    layers["conv_1_bn"][3][:3] = value  # moving variance
    path = write_legacy_h5(tmp_path / "nan.h5", layers)
    model = _fresh()
    before = _snapshot(model)
    with pytest.raises(km.WeightsError) as e:
        weights_lib.load_weights(model, str(path))
    assert "2 with NaN or infinite values" in str(e.value)
    assert "expanded_conv_2_project/kernel: 1 of" in str(e.value)
    assert "conv_1_bn/moving_variance: 3 of" in str(e.value)
    _assert_untouched(model, before)


def test_non_finite_keras3_file_refused_and_model_untouched(tmp_path):
    model = _fresh()
    path = str(tmp_path / "nan.weights.h5")
    randomize(model).save_weights(path)
    with h5py.File(path, "r+") as f:
        names = []
        f.visititems(lambda n, o: names.append(n)
                     if isinstance(o, h5py.Dataset) and o.ndim == 4 else None)
        data = f[names[0]][()]
        data.flat[0] = np.nan
        f[names[0]][()] = data
    fresh = _fresh()
    before = _snapshot(fresh)
    with pytest.raises(km.WeightsError, match="1 with NaN or infinite values: .*: 1 of"):
        weights_lib.load_weights(fresh, path)
    _assert_untouched(fresh, before)


def test_keras3_file_of_another_model_rejected_and_model_untouched(tmp_path):
    other = km.MobileNetV3Large(weights=None, minimalistic=True, **SMALL)
    path = str(tmp_path / "other.weights.h5")
    other.save_weights(path)
    model = _fresh()
    before = _snapshot(model)
    with pytest.raises(ValueError, match="does not fit model"):
        weights_lib.load_weights(model, path)
    _assert_untouched(model, before)


@pytest.mark.parametrize("how", ["truncated", "flipped_header", "not_hdf5",
                                 "hdf5_not_keras"])
def test_damaged_file_rejected(source, tmp_path, how):
    path = str(write_legacy_h5(tmp_path / "w.h5", source))
    data = open(path, "rb").read()
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "flipped_header":
        data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
    elif how == "not_hdf5":
        data = b"<html>404 Not Found</html>" * 10
    if how == "hdf5_not_keras":
        import h5py

        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=np.zeros(3))
    else:
        open(path, "wb").write(data)
    model = _fresh()
    before = _snapshot(model)
    with pytest.raises(ValueError, match="weights file"):
        weights_lib.load_weights(model, path)
    _assert_untouched(model, before)


# --- fetching into the cache (file:// URLs exercise the real download code) ---


def _entry(tmp_path, content=b"weights-bytes", good_hash=True, algorithm="md5"):
    src = tmp_path / "upstream" / "file.h5"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(content)
    digest = getattr(hashlib, algorithm)(content).hexdigest()
    if not good_hash:
        digest = "0" * len(digest)
    return weights_lib.WeightFile("file.h5", src.as_uri(), digest)


def _cache_listing(keras_home):
    return sorted(os.listdir(keras_home / "models"))


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_fetch_downloads_verifies_and_moves_into_cache(keras_home, tmp_path,
                                                       algorithm):
    entry = _entry(tmp_path, algorithm=algorithm)
    path = weights_lib.fetch(entry)
    assert path == str(keras_home / "models" / "file.h5")
    assert open(path, "rb").read() == b"weights-bytes"
    assert _cache_listing(keras_home) == ["file.h5"]  # no temporary leftovers


def test_fetch_rejects_corrupted_download_and_leaves_no_file(keras_home, tmp_path):
    entry = _entry(tmp_path, good_hash=False)
    with pytest.raises(ValueError, match="corrupted"):
        weights_lib.fetch(entry)
    assert _cache_listing(keras_home) == []


def test_fetch_offline_says_where_to_put_the_file(keras_home, tmp_path):
    entry = weights_lib.WeightFile("x.h5", (tmp_path / "nowhere.h5").as_uri())
    with pytest.raises(OSError, match="copy it to .*x.h5") as e:
        weights_lib.fetch(entry)
    assert isinstance(e.value, weights_lib.DownloadError)
    assert _cache_listing(keras_home) == []


def test_fetch_does_not_trust_a_cached_file_with_a_wrong_hash(keras_home, tmp_path):
    entry = _entry(tmp_path)
    (keras_home / "models" / "file.h5").write_bytes(b"half a downl")
    path = weights_lib.fetch(entry)  # re-downloaded, then replaced atomically
    assert open(path, "rb").read() == b"weights-bytes"
    os.remove(tmp_path / "upstream" / "file.h5")
    (keras_home / "models" / "file.h5").write_bytes(b"half a downl")
    with pytest.raises(weights_lib.DownloadError):
        weights_lib.fetch(entry)


def test_fetch_uses_a_verified_cached_file_without_downloading(
        keras_home, tmp_path, monkeypatch):
    entry = _entry(tmp_path)
    (keras_home / "models" / "file.h5").write_bytes(b"weights-bytes")
    monkeypatch.setattr(keras.utils, "get_file",
                        lambda *a, **k: pytest.fail("tried to download"))
    assert weights_lib.fetch(entry) == str(keras_home / "models" / "file.h5")


@pytest.mark.parametrize("suffix", [".pth", ".bin", ".ckpt", ".pt"])
def test_pickle_checkpoints_refused_without_opening(tmp_path, suffix, monkeypatch):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x04 not really a pickle")
    import pickle

    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(ValueError, match="pickle.*safetensors"):
        km.MobileNetV2(weights=str(path))


FETCHER = """
import sys
from keras_mobilenets import weights
entry = weights.WeightFile("big.h5", sys.argv[1], sys.argv[2])
print(weights.fetch(entry))
"""


def test_two_processes_fetching_at_once_leave_one_good_file(keras_home, tmp_path):
    import subprocess
    import sys

    content = np.random.default_rng(0).bytes(32 << 20)  # 32 MiB: a real race
    entry = _entry(tmp_path, content=content, algorithm="sha256")
    env = dict(os.environ, KERAS_HOME=str(keras_home), TF_CPP_MIN_LOG_LEVEL="3",
               KERAS_BACKEND=keras.backend.backend())
    procs = [subprocess.Popen([sys.executable, "-c", FETCHER, entry.url,
                               entry.file_hash], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err[-2000:]
        assert out.strip().splitlines()[-1] == str(keras_home / "models" / "big.h5")
    assert _cache_listing(keras_home) == ["big.h5"]
    assert (keras_home / "models" / "big.h5").read_bytes() == content


def test_interrupted_download_leaves_nothing(keras_home, tmp_path, monkeypatch):
    entry = _entry(tmp_path)

    def interrupted(fname, origin, cache_dir=None, **kwargs):
        with open(os.path.join(cache_dir, fname), "wb") as f:
            f.write(b"weights-")  # part of the file, then the user hits ^C
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.utils, "get_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        weights_lib.fetch(entry)
    assert _cache_listing(keras_home) == []
