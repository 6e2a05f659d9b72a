"""MobileNetV5: equal to timm in float64 within timm's own float32 error,
loaded through the timm conversion; its tables against timm's decoded
arch strings; the adapter's tokens; saving and loading.

Fixtures (tests/fixtures/v5/, from fixture_scripts/make_v5_fixtures.py)
hold timm 1.0.31's float64 outputs of two small networks of MobileNetV5's
classes (`v5_reference`: every row type, both paddings, both resizes of
the adapter) for weights regenerated from a seed, and timm's float32 error
there; `archs.json` holds timm's decoded block arguments of the real
networks, so the 294M-parameter tables are checked without building them.
"""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
from safetensors.numpy import save as safetensors_bytes
from safetensors.numpy import save_file

import keras_mobilenets as km
from conftest import model_outputs
from keras_mobilenets import builder, registry
from keras_mobilenets import layers as v5_layers
from keras_mobilenets.archs import mobilenet_v5 as v5
from keras_mobilenets.spec import MQA, MSFA, UIB, FusedIB
from v4_reference import reference_input
import v5_reference as ref

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "v5")
# Two float32 implementations may round apart by a few ulps of the outputs
# even where timm's own float32 error is smaller (as tests/test_timm_v1_v3).
RELATIVE_FLOOR = 1e-6


def small_entry(padding):
    """A registry entry (not registered) of `v5_reference`'s network."""
    base = v5.ENTRIES["MobileNetV5_300M" if padding == "symmetric"
                      else "MobileNetV5_300MEncoder"]
    arch = dataclasses.replace(
        base.arch, stem=dataclasses.replace(base.arch.stem, filters=ref.STEM),
        stages=ref.stages(),
        neck=MSFA(strides=(16, 32), filters=ref.NECK_FILTERS[padding],
                  output_resolution=ref.OUTPUT_RESOLUTION[padding]))
    return dataclasses.replace(base, name=f"small_{padding}", arch=arch,
                               checkpoints=(), builder=None)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{padding: (fixture, model loaded through weights=<safetensors>,
    [its output, then its pyramid outputs P1..P5] on the fixture's input)}:
    one graph per network (on JAX one compilation). The `symmetric` model
    is the one saved as .keras and loaded back (`test_keras_file_round_trip`
    checks the two hold the same), so parity covers the round trip."""
    folder = tmp_path_factory.mktemp("v5")
    out = {}
    for padding in ("symmetric", "same"):
        fx, weights = ref.load_fixture(padding, FIXTURES)
        path = str(folder / f"{padding}.safetensors")
        save_file(weights, path)
        shape = tuple(int(s) for s in fx["input_shape"])
        classes = ref.CLASSES[padding]
        model = builder.build(
            small_entry(padding), weights=path, input_shape=shape[1:],
            include_top=bool(classes), classes=classes or 1000,
            classifier_activation=None, include_preprocessing=False)
        if padding == "symmetric":
            keras_file = str(folder / "v5.keras")
            model.save(keras_file)
            model = (model, keras.saving.load_model(keras_file))[1]
        pyramid = model.pyramid_outputs
        both = keras.Model(model.input, [model.output] + [
            pyramid[k] for k in sorted(pyramid)])
        x = reference_input(shape, int(fx["seed"]))
        out[padding] = fx, model, model_outputs(both, x)
    return out


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_equals_timm_in_float64(built, padding):
    fx, model, outputs = built[padding]
    ours = np.asarray(outputs[0], np.float64)
    want = fx["out64"]
    error = float(fx["float32_error"])
    bar = 2 * error + RELATIVE_FLOOR * float(np.abs(want).max())
    worst = float(np.abs(ours - want).max())
    print(f"{keras.backend.backend()} {padding}: max |ours - timm float64| "
          f"{worst:.3g}, timm float32 error {error:.3g}, bar {bar:.3g}")
    assert ours.shape == want.shape
    assert worst <= bar, (worst, bar)
    # The two images differ far beyond the bar: a constant output fails.
    assert np.abs(want[0] - want[1]).max() > 100 * bar
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == int(fx["param_count"])


def _timm_row(block, first):
    """timm's decoded block arguments as our row (a stride counts on the
    first block of a stage only, as timm's builder applies it)."""
    stride = block["stride"] if first else 1
    kind = block["block_type"]
    if kind == "er":
        return FusedIB(block["exp_kernel_size"], stride, block["out_chs"],
                       block["exp_ratio"])
    if kind == "uir":
        return UIB(block["dw_kernel_size_start"], block["dw_kernel_size_mid"],
                   stride, block["out_chs"], block["exp_ratio"])
    assert kind == "mqa", block
    return MQA(block["num_heads"], block["key_dim"], block["kv_stride"],
               block["out_chs"], block["dw_kernel_size"])


@pytest.fixture(scope="module")
def timm_archs():
    with open(os.path.join(FIXTURES, "archs.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("name", sorted(v5.ENTRIES))
def test_tables_are_timms(timm_archs, name):
    """Rows, stem, adapter, padding and taps of the real networks equal
    timm's (its decoded arch strings), without building them."""
    entry = v5.ENTRIES[name]
    timm = timm_archs["archs"][entry.timm_name]
    arch = entry.arch
    rows = [[_timm_row(b, j == 0) for j, b in enumerate(stage)]
            for stage in timm["blocks"]]
    assert [list(stage) for stage in arch.stages] == rows
    assert no_noskip(timm)
    assert (arch.stem.filters, arch.stem.bias, arch.stem.stride) == (
        timm["stem"]["out_chs"], timm["stem"]["bias"], 2)
    # timm's Conv2dSame is TensorFlow's SAME padding ("correct" here).
    assert arch.conventions.padding == (
        "correct" if timm["stem_padding"] == "Conv2dSame" else "symmetric")
    msfa = timm["msfa"]
    widths = {f["reduction"]: f["num_chs"] for f in timm["feature_info"]}
    assert sum(widths[s] for s in arch.neck.strides) == msfa["in_chs"]
    assert (arch.neck.filters, [arch.neck.output_resolution] * 2,
            arch.neck.expand_ratio) == (
        msfa["out_chs"], msfa["output_resolution"], msfa["expansion_ratio"])
    assert arch.neck.strides == (16, 32) and msfa["noskip"]
    with_top = timm["params"] + (0 if timm["classes"] else 2048 * 1000 + 1000)
    assert entry.params == with_top


def no_noskip(timm):
    return not any(b["noskip"] for stage in timm["blocks"] for b in stage)


def test_gemma3n_checkpoint_is_timms(timm_archs):
    cfg = timm_archs["pretrained_cfgs"]["mobilenetv5_300m.gemma3n"]
    c = v5.GEMMA3N
    assert (c.model, c.tag, c.num_classes, c.input_size, c.crop_pct,
            list(c.mean), list(c.std), c.interpolation) == (
        "mobilenetv5_300m", "gemma3n", cfg["num_classes"],
        cfg["input_size"][1], cfg["crop_pct"], cfg["mean"], cfg["std"],
        cfg["interpolation"])
    assert cfg["license"] == "gemma"
    assert set(timm_archs["pretrained_cfgs"]) == {"mobilenetv5_300m.gemma3n"}


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_pyramid_outputs_equal_timms_taps(built, padding):
    """The taps at strides 2 to 32 (`pyramid_outputs`) are timm's
    `forward_intermediates` (its feature_info) on the first image."""
    fx, model, outputs = built[padding]
    strides = [int(s) for s in fx["feature_strides"]]
    assert sorted(model.pyramid_outputs) == [
        f"P{s.bit_length() - 1}" for s in strides]
    for i, ours in enumerate(outputs[1:]):
        ours, want = ours[:1], fx[f"feature{i}"]
        bar = 1e-4 * max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(ours, want, atol=bar, err_msg=str(i))


def test_adapter_gives_256_tokens_of_2048():
    """The real adapter (`v5.ADAPTER`) on maps of the 768x768 network's
    sizes (48x48 and 24x24, narrowed): 16x16x2048, i.e. 256 tokens."""
    from keras_mobilenets import blocks

    high = keras.Input((48, 48, 8))
    low = keras.Input((24, 24, 16))
    out = blocks.multi_scale_fusion({16: high, 32: low}, v5.ADAPTER,
                                    "gelu_tanh", v5.conventions("symmetric"),
                                    "msfa")
    assert tuple(out.shape) == (None, 16, 16, 2048)
    names = {layer.name for layer in
             keras.Model([high, low], out).layers if layer.weights}
    # timm's module paths of the adapter's tensors, as the conversion reads.
    assert names == {"msfa_ffn_pw_exp_conv", "msfa_ffn_pw_exp_bn",
                     "msfa_ffn_pw_proj_conv", "msfa_ffn_pw_proj_bn",
                     "msfa_norm"}


def test_keras_file_round_trip(built):
    """The `symmetric` model of the parity tests came back from a .keras
    file: its custom layers (RMSNorm2D, NearestResize, gelu_tanh), Keras'
    resizing, its weights and taps."""
    _, loaded, _ = built["symmetric"]
    fx, weights = ref.load_fixture("symmetric", FIXTURES)
    kinds = {type(layer).__name__ for layer in loaded.layers}
    assert {"NearestResize", "RMSNorm2D", "Resizing"} <= kinds
    act = loaded.get_layer("blocks_0_0_bn1_act").activation
    assert act is v5_layers.gelu_tanh
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.get_layer("msfa_norm").gamma),
        weights["msfa.norm.weight"])
    assert sorted(loaded.pyramid_outputs) == ["P1", "P2", "P3", "P4", "P5"]


def test_gemma_weights_refused_under_a_classifier():
    with pytest.raises(ValueError, match="include_top=False"):
        v5.MobileNetV5_300M(weights="gemma3n")


def test_timm_folder_loads_and_shows_the_gemma_terms(built, tmp_path, capsys):
    """A folder laid out as timm's `mobilenetv5_300m.gemma3n` repository
    (config.json with no classifier and `license: gemma`, model.safetensors:
    here the small encoder's weights) loads through `weights=<folder>`,
    prints the Gemma terms, and refuses a classifier."""
    fx, weights = ref.load_fixture("same", FIXTURES)
    save_file(weights, str(tmp_path / "model.safetensors"))
    config = dict(architecture="mobilenetv5_300m", num_classes=0,
                  pretrained_cfg=dict(license="gemma", mean=[0, 0, 0],
                                      std=[1, 1, 1]))
    (tmp_path / "config.json").write_text(json.dumps(config))
    entry = small_entry("same")

    def build(**kwargs):
        return v5._build(entry, **kwargs)

    shape = tuple(int(s) for s in fx["input_shape"])
    with pytest.raises(ValueError, match="no classifier"):
        build(weights=str(tmp_path), input_shape=shape[1:])
    assert v5.GEMMA_TERMS not in capsys.readouterr().err
    model = build(weights=str(tmp_path), input_shape=shape[1:],
                  include_top=False, include_preprocessing=False)
    assert v5.GEMMA_TERMS in capsys.readouterr().err
    _, loaded, _ = built["same"]
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                      keras.ops.convert_to_numpy(b))


def test_adapter_needs_a_known_size():
    with pytest.raises(ValueError, match="known input size"):
        builder.build(small_entry("same"), weights=None, include_top=False,
                      input_shape=(None, None, 3), include_preprocessing=False)


def test_rms_norm_and_nearest_resize_in_both_layouts():
    """The two layers against NumPy (timm's `rms_norm2d`; PyTorch's nearest:
    output i reads input floor(i * in / out)), channels last and first."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    gamma = rng.uniform(0.5, 1.5, 5).astype("float32")
    want = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-6) * gamma
    rows, cols = [3 * i // 5 for i in range(5)], [4 * i // 7 for i in range(7)]
    resized = x[:, rows][:, :, cols]
    for axis, fmt, to in ((-1, "channels_last", (0, 1, 2, 3)),
                          (1, "channels_first", (0, 3, 1, 2))):
        norm = v5_layers.RMSNorm2D(1e-6, axis=axis)
        norm.build(x.transpose(to).shape)
        norm.gamma.assign(gamma)
        got = keras.ops.convert_to_numpy(norm(x.transpose(to)))
        np.testing.assert_allclose(got, want.transpose(to), rtol=1e-5,
                                   atol=1e-6)
        got = v5_layers.NearestResize((5, 7), data_format=fmt)(x.transpose(to))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got),
                                      resized.transpose(to))
    with pytest.raises(ValueError, match="axis=2"):
        v5_layers.RMSNorm2D(axis=2)
    with pytest.raises(ValueError, match=r"size=\(5,\)"):
        v5_layers.NearestResize((5,))


def test_registered_but_not_swept():
    """In the registry (from_preset, the command line), out of the tests'
    sweeps; timm's `mobilenetv5_300m` is MobileNetV5_300M's, though the
    encoder loads its checkpoints too."""
    assert set(v5.ENTRIES) <= set(registry.ENTRIES)
    assert not set(v5.ENTRIES) & set(registry.swept())
    names = registry.timm_names()
    assert {n: names[n][0].name for n in names if "v5" in n} == {
        "mobilenetv5_300m": "MobileNetV5_300M",
        "mobilenetv5_300m_enc": "MobileNetV5_300MEncoder",
        "mobilenetv5_base": "MobileNetV5Base"}
    assert "mobilenetv5_300m" in v5.ENTRIES[
        "MobileNetV5_300MEncoder"].pretrained.hub_names


@pytest.fixture
def small_300m(monkeypatch):
    """(the registered MobileNetV5_300M, building `v5_reference`'s small
    network of its padding; those weights without the classifier, as
    Gemma 3n's; the input shape): what reaches the builder is tested
    without building 294M parameters."""
    entry = registry.get("MobileNetV5_300M")
    monkeypatch.setattr(entry, "arch", small_entry("symmetric").arch)
    fx, weights = ref.load_fixture("symmetric", FIXTURES)
    body = {k: v for k, v in weights.items()
            if not k.startswith("classifier.")}
    return entry, body, tuple(int(s) for s in fx["input_shape"])[1:]


def _same_body(model, built):
    """`model`'s weights are those of the parity test's model."""
    _, reference, _ = built["symmetric"]
    layers = [layer for layer in model.layers if layer.weights]
    assert len(layers) > 50
    for layer in layers:
        for a, b in zip(layer.weights,
                        reference.get_layer(layer.name).weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                          keras.ops.convert_to_numpy(b))


def test_from_preset_of_a_gemma3n_folder(built, small_300m, tmp_path, capsys):
    """A folder laid out as timm/mobilenetv5_300m.gemma3n: MobileNetV5_300M
    with its weights and the Gemma terms; a classifier refused."""
    entry, body, shape = small_300m
    save_file(body, str(tmp_path / "model.safetensors"))
    config = dict(architecture="mobilenetv5_300m", num_classes=0,
                  pretrained_cfg=dict(license="gemma", mean=[0, 0, 0],
                                      std=[1, 1, 1]))
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert km.presets.resolve(tmp_path) == (entry, 1.0, str(tmp_path))
    with pytest.raises(ValueError, match="no classifier"):
        km.from_preset(tmp_path, input_shape=shape)
    assert v5.GEMMA_TERMS not in capsys.readouterr().err
    model = km.from_preset(tmp_path, input_shape=shape, include_top=False,
                           include_preprocessing=False)
    assert v5.GEMMA_TERMS in capsys.readouterr().err
    _same_body(model, built)


def test_from_preset_of_timms_name_reads_its_hub_repository(
        built, small_300m, fake_hub, keras_home, capsys):
    """"mobilenetv5_300m.gemma3n" and its hub handles name the registry's
    checkpoint without reading the hub; building it downloads
    timm/mobilenetv5_300m.gemma3n's weights (here from a stand-in hub)."""
    entry, body, shape = small_300m
    for preset in ("mobilenetv5_300m.gemma3n",
                   "hf-hub:timm/mobilenetv5_300m.gemma3n",
                   "hf://timm/mobilenetv5_300m.gemma3n"):
        assert km.presets.resolve(preset) == (entry, 1.0, "gemma3n"), preset
    assert fake_hub.requests() == []
    fake_hub.add("timm/mobilenetv5_300m.gemma3n",
                 {"model.safetensors": safetensors_bytes(body)})
    model = km.from_preset("mobilenetv5_300m.gemma3n", input_shape=shape,
                           include_top=False, include_preprocessing=False)
    assert v5.GEMMA_TERMS in capsys.readouterr().err
    assert {r[1] for r in fake_hub.requests()} == {
        "timm/mobilenetv5_300m.gemma3n"}
    _same_body(model, built)
