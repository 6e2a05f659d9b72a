"""`detection.SSDLite`: equal to torchvision's `ssdlite320_mobilenet_v3_large`
(head outputs of its state dict with random weights and BatchNorm
statistics, `fixture_scripts/make_ssdlite_model_fixtures.py`), strict
loading, any generation as backbone, argument checks, and the
`keras-mobilenets convert torchvision` command."""

import os
import sys

import keras
import numpy as np
import pytest
import safetensors.numpy

from conftest import model_outputs
from keras_mobilenets import cli, registry
from keras_mobilenets.detection import SSDLite
from keras_mobilenets.detection import ssdlite
from keras_mobilenets.errors import WeightsError
from v4_reference import reference_input, reference_weights

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures",
                       "ssdlite_model.npz")
ANCHORS = 3234  # torchvision's at 320 x 320: (20² + 10² + 5² + 3² + 2² + 1) * 6
TORCHVISION = "TorchvisionMobileNetV3Large"


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE) as z:
        d = {k: z[k] for k in z.files}
    spec = [(str(n), tuple(int(s) for s in row[:k]), str(t)) for n, row, k, t
            in zip(d["spec_names"], d["spec_shapes"], d["spec_ndim"],
                   d["spec_dtypes"])]
    state = reference_weights(spec, int(d["seed"]))
    for name in state:  # the calibrated BatchNorm statistics
        state[name] = d.get(f"stats:{name}", state[name])
    shape = tuple(int(s) for s in d["input_shape"])
    pixels = np.clip(127.5 + 50.0 * reference_input(shape, int(d["seed"])),
                     0.0, 255.0).astype("float32")
    return dict(d, state=state, pixels=pixels)


@pytest.fixture(scope="module")
def safetensors_file(fixture, tmp_path_factory):
    path = tmp_path_factory.mktemp("ssdlite") / "ssdlite.safetensors"
    safetensors.numpy.save_file(fixture["state"], str(path))
    return str(path)


@pytest.fixture(scope="module")
def loaded(safetensors_file):
    return SSDLite(TORCHVISION, num_classes=91, weights=safetensors_file)


def _assert_equals_torchvision(outputs, fixture):
    """Within 1e-4 of the scale of torchvision's float64 outputs (its own
    float32 error is fixture["float32_error"], about 3e-4 at scale 10)."""
    boxes, logits = fixture["boxes64"], fixture["logits64"]
    got_boxes = outputs["bbox_regression"]
    got_logits = outputs["cls_logits"][:, ::5, ::3]  # the fixture's sample
    assert got_boxes.shape == boxes.shape == (2, ANCHORS, 4)
    assert got_logits.shape == logits.shape
    for got, want in ((got_boxes, boxes), (got_logits, logits)):
        scale = np.abs(want).max()
        assert scale > 1.0  # not a degenerate network
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale)


def test_head_outputs_equal_torchvision(loaded, fixture):
    x = fixture["pixels"]
    _assert_equals_torchvision(loaded.predict(x, verbose=0, batch_size=2),
                               fixture)
    if keras.backend.backend() != "jax":  # the call too (PyTorch: no plan)
        _assert_equals_torchvision(model_outputs(loaded, x), fixture)


def test_trainable_parameters_are_torchvisions(loaded, fixture):
    trainable = sum(int(np.prod(v.shape)) for v in loaded.trainable_weights)
    assert trainable == int(fixture["param_count"]) == 3_440_060
    assert loaded.output["cls_logits"].shape == (None, ANCHORS, 91)
    assert loaded.output["bbox_regression"].shape == (None, ANCHORS, 4)
    # torchvision's reduced tail without backbone weights (C4 672 -> 80).
    assert loaded.get_layer("features_16_0").kernel.shape[-1] == 480


def test_keras_weights_files_round_trip(loaded, fixture, tmp_path):
    x = fixture["pixels"][:1]
    want = model_outputs(loaded, x)
    for fname in ("ssdlite.weights.h5", "ssdlite.h5"):
        path = str(tmp_path / fname)
        if fname.endswith(".weights.h5"):
            loaded.save_weights(path)
        else:
            from keras_mobilenets.weights import save_weights_file
            save_weights_file(loaded, path)
        again = SSDLite(TORCHVISION, num_classes=91, weights=path)
        got = model_outputs(again, x)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
    path = str(tmp_path / "ssdlite.keras")  # the whole model, as a file
    loaded.save(path)
    again = keras.saving.load_model(path)
    assert again.taps == loaded.taps
    got = model_outputs(again, x)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])


def test_loading_is_strict_and_names_what_does_not_fit(fixture, tmp_path):
    state = dict(fixture["state"])
    missing = "backbone.features.1.0.2.fc1.weight"  # C4's squeeze-excite
    del state[missing]
    state["head.extra_tensor.weight"] = np.zeros((3,), "float32")
    path = str(tmp_path / "broken.safetensors")
    safetensors.numpy.save_file(state, path)
    with pytest.raises(WeightsError) as info:
        SSDLite(TORCHVISION, num_classes=91, weights=path)
    message = str(info.value)
    # torchvision's MobileNetV3 classifier name of that tensor.
    assert "1 missing from the checkpoint: features.13.block.2.fc1.weight" \
        in message
    assert "head.extra_tensor.weight" in message
    whole = str(tmp_path / "whole.safetensors")
    safetensors.numpy.save_file(fixture["state"], whole)
    with pytest.raises(WeightsError, match="shape mismatch"):  # 91 classes
        SSDLite(TORCHVISION, num_classes=5, weights=whole)
    with pytest.raises(ValueError, match="Received: a model without"):
        SSDLite("MobileNetV3Large", num_classes=91, weights=whole,
                backbone_arguments={"alpha": 0.75})



def test_weights_take_the_road_of_every_model(loaded, safetensors_file,
                                              monkeypatch):
    """SSDLite's `weights=` goes through `weights.resolve`, as every model's:
    its record names no checkpoint, and a path is an `SSDLiteFile` (a
    torchvision state dict or a Keras file); pickle files are refused."""
    from keras_mobilenets import weights

    seen, resolve = [], weights.resolve
    monkeypatch.setattr(weights, "resolve",
                        lambda *a: seen.append(resolve(*a)) or seen[-1])
    ssdlite.load_weights(loaded, safetensors_file)
    (resolved,) = seen
    assert resolved.source == weights.SSDLiteFile(
        safetensors_file, TORCHVISION, "features_0_0")
    assert resolved.recipe is None and resolved.class_names is None
    with pytest.raises(ValueError, match="Refusing to read.*pickle"):
        ssdlite.load_weights(loaded, "ssdlite.pth")

# One model of each generation: C4 (torchvision's rule, `ssdlite.c4_layer`)
# and the anchors at 320.
GENERATIONS = {
    "MobileNet": ({"alpha": 0.25}, "conv_pw_11_relu"),  # no expansion: C4 map
    "MobileNetV2": ({"alpha": 0.35}, "block_13_expand_relu"),
    "MobileNetV3Small": ({"alpha": 0.75}, "expanded_conv_8_expand_act"),
    "MobileNetV4ConvSmall": ({}, "blocks_3_0_pw_exp_bn_act"),
}


@pytest.mark.parametrize("name", list(GENERATIONS))
def test_builds_on_every_generation(name):
    arguments, c4 = GENERATIONS[name]
    model = SSDLite(name, num_classes=5, backbone_arguments=arguments)
    assert ssdlite.c4_layer(model) == c4
    c4_map = model.get_layer(c4).output
    assert tuple(c4_map.shape[1:3]) == (20, 20)  # stride 16
    assert model.output["bbox_regression"].shape == (None, ANCHORS, 4)
    assert model.output["cls_logits"].shape == (None, ANCHORS, 5)
    if name == "MobileNet":  # [0, 255] in, scaled in front of V1 and V2
        assert isinstance(model.layers[1], keras.layers.Rescaling)
        out = model_outputs(model, np.full((1, 320, 320, 3), 255.0, "float32"))
        assert all(np.isfinite(v).all() for v in out.values())


def test_a_built_backbone_is_tapped_in_place():
    backbone = registry.get("MobileNetV3Small").builder(
        include_top=False, weights=None, alpha=0.75,
        input_shape=(320, 320, 3))
    model = SSDLite(backbone, num_classes=3)
    assert model.get_layer("expanded_conv_8_expand_act") is \
        backbone.get_layer("expanded_conv_8_expand_act")
    assert model.output["cls_logits"].shape == (None, ANCHORS, 3)


@pytest.mark.parametrize("arguments, received", [
    (dict(num_classes=0), "num_classes=0"),
    (dict(num_classes=2.5), "num_classes=2.5"),
    (dict(input_shape=(None, None, 3)), "input_shape=(None, None, 3)"),
    (dict(input_shape=(320, 320)), "input_shape=(320, 320)"),
    (dict(weights="/no/such/file.safetensors"),
     "weights='/no/such/file.safetensors'"),
    (dict(backbone="MobileNetV9"), "backbone='MobileNetV9'"),
    (dict(backbone=3), "backbone=3"),
    (dict(backbone_arguments={"weights": None}), "backbone_arguments="),
    (dict(aspect_ratios=((2, 3),)), "aspect_ratios=((2, 3),)"),
])
def test_bad_arguments_say_what_was_received(arguments, received):
    arguments = {"backbone": "MobileNetV3Small", "num_classes": 3, **arguments}
    with pytest.raises(ValueError, match="Received: ") as info:
        SSDLite(**arguments)
    assert received in str(info.value)


def test_convert_command_reads_a_local_state_dict(fixture, tmp_path, capsys):
    import torch  # CI's PyTorch (CPU); torchvision is not needed

    pth = tmp_path / "ssdlite.pth"
    torch.save({k: torch.from_numpy(v) for k, v in fixture["state"].items()},
               pth)
    out = str(tmp_path / "ssdlite_coco.weights.h5")
    assert cli.main(["convert", "torchvision", "ssdlite320_mobilenet_v3_large",
                     out, "--state-dict", str(pth)]) == 0
    assert "91 classes" in capsys.readouterr().out
    model = SSDLite(TORCHVISION, num_classes=91, weights=out)
    _assert_equals_torchvision(model_outputs(model, fixture["pixels"]),
                               fixture)


def _fake_torchvision(monkeypatch, weights_enum):
    """`torchvision.models.detection` holding only `weights_enum` (CI has
    no torchvision; None: torchvision not installed)."""
    import types

    names = ("torchvision", "torchvision.models", "torchvision.models.detection")
    if weights_enum is None:
        for name in names:
            monkeypatch.setitem(sys.modules, name, None)
        return
    detection = types.ModuleType("torchvision.models.detection")
    detection.SSDLite320_MobileNet_V3_Large_Weights = weights_enum
    for name in names[:2]:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, names[2], detection)


def test_convert_command_gets_the_weights_through_torchvision(
        fixture, tmp_path, monkeypatch, capsys):
    import torch

    calls = []

    class COCO_V1:  # torchvision's enum member: its url and download
        url = "https://download.pytorch.org/models/ssdlite320.pth"

        @staticmethod
        def get_state_dict(**kwargs):
            calls.append(kwargs)
            return {k: torch.from_numpy(v) for k, v in fixture["state"].items()}

    out = str(tmp_path / "coco.h5")
    argv = ["convert", "torchvision", "ssdlite320_mobilenet_v3_large", out]
    _fake_torchvision(monkeypatch, type("Weights", (), {"COCO_V1": COCO_V1}))
    assert cli.main(argv) == 0
    assert calls == [dict(progress=True, check_hash=True, weights_only=True)]
    assert "ssdlite320_mobilenet_v3_large -> " in capsys.readouterr().out
    assert os.path.getsize(out) > 3_440_060 * 4
    _fake_torchvision(monkeypatch, None)
    assert cli.main(argv) == 1
    assert "--state-dict FILE" in capsys.readouterr().err
