"""The registry: public builders written as `def`s with the argument
table's signatures, one import direction, and a new MobileNetV4 variant
registered from data (rows, one registry entry and its `def`) getting
feature taps, MAC counts, timm conversion and a CLI listing without
touching any module."""

import ast
import dataclasses
import functools
import inspect
import json
import os
import re
import sys

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

import keras_mobilenets as km
from conftest import ROOT, model_outputs, randomize
from keras_mobilenets import arguments, checkpoints, cli, features, naming
from keras_mobilenets import registry
from keras_mobilenets.spec import MQA, UIB, Arch, Conventions, ConvBN, FusedIB, Top
from keras_mobilenets.weights import TimmCheckpoint

PACKAGE = os.path.join(ROOT, "keras_mobilenets")


@pytest.mark.parametrize("name", ["MobileNet", "MobileNetV2",
                                  "MobileNetV3Small", "MobileNetV3Large"])
def test_signature_is_keras_applications_plus_additions(name):
    ours = list(inspect.signature(getattr(km, name)).parameters.values())
    theirs = list(inspect.signature(getattr(keras.applications, name))
                  .parameters.values())
    assert ours[:len(theirs)] == theirs  # names, order, defaults
    added = [p.name for p in ours[len(theirs):]]
    assert added == ([] if name == "MobileNet" else ["drop_path_rate"]) + [
        "output_stride"]
    # each addition's default leaves keras.applications' network unchanged
    assert [p.default for p in ours[len(theirs):]] == [
        {"drop_path_rate": 0.0, "output_stride": 32}[n] for n in added]


def test_v4_signature_is_keras_v3_without_minimalistic_plus_additions():
    """keras.applications has no MobileNetV4: its builders take
    MobileNetV3Large's arguments (no `minimalistic`: V4 has no such
    variant), then our additions."""
    theirs = [(p.name, p.default) for p in inspect.signature(
        keras.applications.MobileNetV3Large).parameters.values()
        if p.name != "minimalistic"]
    theirs[-1] = ("name", None)  # keras' default is "MobileNetV3Large"
    for name, entry in registry.swept().items():  # V5: fewer (its ARGUMENTS)
        if not entry.timm_name:
            continue
        ours = list(inspect.signature(entry.builder).parameters.values())
        assert [(p.name, p.default) for p in ours[:len(theirs)]] == theirs
        added = {p.name: p.default for p in ours[len(theirs):]}
        assert added == {"drop_path_rate": 0.0, "include_pre_logits": False,
                         "output_stride": 32}


def _builder_problems(entry, builder):
    """What keeps `builder` from being `entry`'s public builder as a reader
    finds it: a `def` of the entry's name whose signature is
    `arguments.ARGUMENTS`' names of `entry.arguments`, in order, with their
    defaults (`entry.defaults` where it overrides them)."""
    problems = []
    if not inspect.isfunction(builder) or hasattr(builder, "__wrapped__") \
            or "__signature__" in vars(builder):
        return [f"{entry.name}: not a plain function: {builder!r}"]
    if builder.__code__.co_name != entry.name:
        problems.append(f"{entry.name}: defined as {builder.__code__.co_name}")
    source = inspect.getsource(sys.modules[builder.__module__])
    if f"\ndef {entry.name}(" not in source:
        problems.append(f"{entry.name}: no `def {entry.name}(` in "
                        f"{builder.__module__}")
    params = inspect.signature(builder).parameters
    if list(params) != list(entry.arguments):
        problems.append(f"{entry.name}: arguments {list(params)}, want "
                        f"{list(entry.arguments)}")
    for name, param in params.items():
        if name not in arguments.ARGUMENTS:
            problems.append(f"{entry.name}: {name} is no argument")
            continue
        want = entry.defaults.get(name, arguments.ARGUMENTS[name].default)
        if param.default != want or type(param.default) is not type(want):
            problems.append(f"{entry.name}: {name}={param.default!r}, want "
                            f"{want!r}")
        if param.kind is not param.POSITIONAL_OR_KEYWORD:
            problems.append(f"{entry.name}: {name} is {param.kind}")
    return problems


def test_every_public_builder_is_a_def_with_the_argument_table():
    for name, entry in registry.ENTRIES.items():
        builder = getattr(km, name)
        assert builder is entry.builder
        assert _builder_problems(entry, builder) == []
        for param in entry.arguments:  # every argument is documented
            assert f"    {param}: " in builder.__doc__, (name, param)
    with pytest.raises(TypeError, match="unexpected keyword argument 'alhpa'"):
        km.MobileNetV2(alhpa=0.5)


def _drifted_v2(input_shape=None, alpha=0.5, include_top=True,
                weights="imagenet", input_tensor=None, classes=1000,
                pooling=None, classifier_activation="softmax", name=None,
                output_stride=32):
    return km.builder.build(registry.get("MobileNetV2"), **locals())


def test_a_drifted_or_generated_builder_is_caught():
    """The check above fails on a def that drifts from the table (a
    default, the order, a missing argument) and on a generated builder,
    and `register` takes only a function of the entry's name."""
    entry = registry.get("MobileNetV2")
    problems = " ".join(_builder_problems(entry, _drifted_v2))
    for words in ("defined as _drifted_v2", "alpha=0.5, want 1.0",
                  "arguments ["):
        assert words in problems
    generated = functools.wraps(km.MobileNetV2)(lambda *a, **k: None)
    assert "not a plain function" in _builder_problems(entry, generated)[0]
    with pytest.raises(TypeError, match="def MobileNetV4Tiny"):
        registry.register(_tiny_entry(), "keras_mobilenets.archs")
    assert "MobileNetV4Tiny" not in registry.ENTRIES


def test_options_hold_every_option_of_the_argument_table():
    """`builder.Options`, written out, has a field per option of
    `arguments.ARGUMENTS` at its `absent` value (the first argument's,
    where two set one option), then the input shape."""
    want = {}
    for name, argument in arguments.ARGUMENTS.items():
        want.setdefault(argument.option or name, argument.absent)
    want.update(shape=None, rows=None, cols=None)
    fields = {f.name: f.default
              for f in dataclasses.fields(km.builder.Options)}
    assert fields == want
    assert list(fields) == list(want)


def _imports(path):
    """Modules of the package that `path` imports, and the imports of the
    package that sit inside a function (the way to dodge an import circle)."""
    tree = ast.parse(open(path).read())
    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    package = module.rsplit(".", 1)[0] if not module.endswith("__init__") \
        else module.rsplit(".", 1)[0]
    if module.endswith(".__init__"):
        module = package
    found, nested = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[:len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [target] if node.module else [
                f"{target}.{a.name}" for a in node.names]
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names
                         if a.name.startswith("keras_mobilenets"))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # The package's own modules (backends' optional libraries may
            # be imported where they are used).
            nested += [n for n in ast.walk(node)
                       if (isinstance(n, ast.ImportFrom) and n.level)
                       or (isinstance(n, (ast.Import, ast.ImportFrom))
                           and "keras_mobilenets" in ast.dump(n))]
    return module, found, nested


def _graph():
    graph, nested = {}, {}
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                module, found, inner = _imports(os.path.join(folder, f))
                graph[module] = found
                if inner:
                    nested[module] = len(inner)
    modules = set(graph)
    # "from . import x" names modules; "from .x import y" names x.
    resolved = {}
    for module, targets in graph.items():
        out = set()
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != module:
                out.add(t)
        resolved[module] = out
    return resolved, nested


def _circle(graph, skip=lambda module, dep: False):
    """An import circle of `graph` ({module: modules it imports}) as a
    list of modules, or None; `skip(module, dep)` leaves an edge out."""
    state = {}

    def visit(module, path):
        state[module] = "open"
        for dep in sorted(graph.get(module, ())):
            if skip(module, dep):
                continue
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep, path + [dep])
                if found:
                    return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def _units(graph):
    """`graph` between the package's units: each subpackage (`fast`,
    `weights`, ...) counts as one, each top-level module as one."""
    def unit(module):
        return ".".join(module.split(".")[:2])

    units = {}
    for module, deps in graph.items():
        units.setdefault(unit(module), set()).update(
            unit(d) for d in deps if unit(d) != unit(module))
    return units


def test_imports_point_one_way_and_none_hides_in_a_function():
    graph, nested = _graph()
    assert not nested, f"imports inside functions: {nested}"
    # No circle, except a package's __init__ importing its own modules.
    circle = _circle(graph, lambda module, dep: dep.startswith(module + "."))
    assert circle is None, "import circle: " + " -> ".join(circle)
    # Nor between units: a subpackage's module importing a module that
    # imports the subpackage back (fast.plan -> layers -> fast.layers).
    circle = _circle(_units(graph))
    assert circle is None, "import circle: " + " -> ".join(circle)
    assert _circle(_units({"keras_mobilenets.fast.plan": {"keras_mobilenets.layers"},
                           "keras_mobilenets.layers": {"keras_mobilenets.fast.layers"},
                           "keras_mobilenets.fast.layers": set()})) == [
        "keras_mobilenets.fast", "keras_mobilenets.layers",
        "keras_mobilenets.fast"]
    weights = {m: d for m, d in graph.items()
               if m.startswith("keras_mobilenets.weights")}
    for module, deps in weights.items():
        for dep in deps:
            assert not dep.startswith(("keras_mobilenets.archs",
                                       "keras_mobilenets.registry",
                                       "keras_mobilenets.builder",
                                       "keras_mobilenets.checkpoints")), (module, dep)


# Pretrained configurations, in one keyed form ------------------------------


def test_every_checkpoint_key_is_architecture_dot_tag_and_unique():
    """Every checkpoint of every model is made by `checkpoints.checkpoint`
    and keyed "<architecture>.<tag>" as timm keys its `default_cfgs`: a
    timm checkpoint's key names its hub repository, keras.applications'
    its model, alpha and size; a key names one record (in one model
    once); the architecture modules write no checkpoint record nor mean
    and std of their own."""
    from keras_mobilenets.archs import mobilenet_v5  # outside ENTRIES

    every = [c for e in (*registry.ENTRIES.values(),
                         *mobilenet_v5.ENTRIES.values())
             for c in e.checkpoints]
    by_key = {}
    for c in every:  # a key names one record (two models may share it)
        assert by_key.setdefault(c.key, c) == c, c.key
    for e in (*registry.ENTRIES.values(), *mobilenet_v5.ENTRIES.values()):
        keys = [c.key for c in e.checkpoints]
        assert len(set(keys)) == len(keys), e.name
    assert len(by_key) > 90
    for c in every:
        architecture, tag = checkpoints.parse_key(c.key)
        if isinstance(c, TimmCheckpoint):
            assert (architecture, tag) == (c.model, c.tag)
            assert c.hf_hub_id == f"timm/{c.key}"
        else:
            assert tag == f"r{c.size}_in1k", c.key
            assert architecture.endswith(f"_{round(c.alpha * 100):03d}")
    for bad in ("mobilenetv2_100", ".ra_in1k", "mobilenetv2_100.", "a.b.c",
                None):
        with pytest.raises(ValueError, match=re.escape(f"key={bad!r}")):
            checkpoints.parse_key(bad)
    archs = os.path.join(PACKAGE, "archs")
    for fname in sorted(os.listdir(archs)):
        if fname.endswith(".py"):
            text = open(os.path.join(archs, fname)).read()
            for own in ("TimmCheckpoint(", "KerasCheckpoint(", "0.485"):
                assert own not in text, (fname, own)


# A new variant, from data alone --------------------------------------------

TINY_STAGES = (
    (FusedIB(3, 2, 24, 4.0),),
    (UIB(3, 5, 2, 32, 4.0), UIB(0, 3, 1, 32, 2.0)),
    (UIB(5, 5, 2, 48, 4.0), MQA(2, 16, 2, 48), UIB(3, 0, 1, 48, 2.0)),
    (UIB(3, 3, 2, 64, 4.0), UIB(0, 0, 1, 64, 2.0)),
    (ConvBN(1, 1, 256),),
)
TINY_CHECKPOINT = TimmCheckpoint(
    model="mobilenetv4_tiny", tag="e1_r64_in1k", alpha=1.0, input_size=64,
    crop_pct=0.9, test_input_size=None, test_crop_pct=None,
    mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), top1=None, test_top1=None,
    default=True)


def _tiny_entry():
    return registry.Entry(
        name="MobileNetV4Tiny",
        arch=Arch(
            name="MobileNetV4Tiny",
            stem=ConvBN(3, 2, 16, scale="widen"),
            stages=TINY_STAGES,
            top=Top(classifier="dense", hidden=128, hidden_norm=True),
            naming=naming.TIMM,
            conventions=Conventions(activation="relu", bn_epsilon=1e-5,
                                    bn_momentum=0.9, padding="symmetric",
                                    pad_all=True, layer_scale=1e-5),
            preprocessing="normalize",
        ),
        arguments=arguments.V4,
        title="MobileNetV4-Tiny",
        paper="a test",
        preprocess_input=lambda x: x,
        preprocessing_doc="the model itself",
        weights_note="One test checkpoint.",
        params=None,
        checkpoints=(TINY_CHECKPOINT,),
        model_name="MobileNetV4Tiny",
        test_config=dict(alpha=1.0),
        timm_name="mobilenetv4_tiny",
    )


def MobileNetV4Tiny(
        input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True,
        name=None, drop_path_rate=0.0, include_pre_logits=False,
        output_stride=32):
    # The entry registered now (tests register several under this name).
    return km.builder.build(registry.get("MobileNetV4Tiny"), **locals())


def _timm_state_dict(model):
    """`model`'s weights as a timm checkpoint would hold them: PyTorch
    layouts, under module paths whose dots are the layer names' underscores
    (all the converter reads)."""
    state = {}
    for layer in model.layers:
        for v in layer.weights:
            value = keras.ops.convert_to_numpy(v)
            leaf = {"kernel": "weight", "gamma": "weight", "beta": "bias",
                    "moving_mean": "running_mean",
                    "moving_variance": "running_var"}.get(v.name, v.name)
            if isinstance(layer, km.layers.LayerScale):
                leaf = "gamma"
            elif isinstance(layer, keras.layers.DepthwiseConv2D) and leaf == "weight":
                value = value.transpose(2, 3, 0, 1)
            elif isinstance(layer, keras.layers.Conv2D) and leaf == "weight":
                value = value.transpose(3, 2, 0, 1)
            elif isinstance(layer, keras.layers.Dense) and leaf == "weight":
                value = value.T
            state[f"{layer.name}.{leaf}"] = np.ascontiguousarray(value)
    return state


@pytest.fixture
def tiny():
    builder = registry.register(_tiny_entry(), MobileNetV4Tiny)
    try:
        yield builder
    finally:
        registry.unregister("MobileNetV4Tiny")


def test_a_new_variant_from_rows_and_one_registry_entry(tiny, keras_home,
                                                        fake_hub, capsys):
    assert registry.timm_names()["mobilenetv4_tiny"][1] == 1.0
    assert _builder_problems(registry.get("MobileNetV4Tiny"), tiny) == []
    assert "MobileNetV4-Tiny" in tiny.__doc__

    model = randomize(tiny(weights=None, input_shape=(64, 64, 3)), seed=3)
    assert model.output.shape == (None, 1000)
    assert model.get_layer("blocks_2_1_attn") is not None
    assert model.get_layer("blocks_1_1_layer_scale") is not None

    # Feature taps, recorded while building: each stage's last block.
    assert features.feature_layers(model) == {
        2: "bn1_act", 4: "blocks_0_0_bn2", 8: "blocks_1_1_add",
        16: "blocks_2_2_add", 32: "blocks_4_0_bn1_act"}
    feats = model_outputs(km.feature_model(model),
                          np.zeros((1, 64, 64, 3), "float32"))
    assert [feats[f"stride_{s}"].shape[1:] for s in (2, 4, 8, 16, 32)] == [
        (32, 32, 16), (16, 16, 24), (8, 8, 32), (4, 4, 48), (2, 2, 256)]
    # ... and recognised without them, by its blocks.
    assert features.variant_of(keras.Model(model.inputs, model.outputs)) \
        == "MobileNetV4Tiny"

    assert km.count_macs(model) > km.count_macs(
        tiny(weights=None, input_shape=(32, 32, 3)))

    # timm conversion by names alone: a checkpoint of this variant loads,
    # as a path, as the registered checkpoint (from the stand-in hub) and
    # as any hub repository whose config.json names it.
    state = _timm_state_dict(model)
    path = str(keras_home / f"{TINY_CHECKPOINT.hf_hub_id[5:]}.safetensors")
    save_file(state, path)
    data = open(path, "rb").read()
    fake_hub.add(TINY_CHECKPOINT.hf_hub_id, {"model.safetensors": data})
    config = {"architecture": "mobilenetv4_tiny", "pretrained_cfg": {
        "mean": TINY_CHECKPOINT.mean, "std": TINY_CHECKPOINT.std}}
    fake_hub.add("someone/tiny", {"model.safetensors": data,
                                  "config.json": json.dumps(config).encode()})
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    want = model_outputs(model, x)
    for weights in (path, "imagenet", "hf-hub:someone/tiny"):
        loaded = tiny(weights=weights, input_shape=(64, 64, 3))
        np.testing.assert_allclose(model_outputs(loaded, x), want, rtol=0,
                                   atol=1e-5 * np.abs(want).max())
    body = tiny(weights=path, include_top=False)  # the top is left out
    assert body.output.shape[-1] == 256
    norm = tiny(weights="imagenet").get_layer("normalization").get_config()
    np.testing.assert_allclose(norm["mean"], [127.5] * 3)

    assert cli.main(["list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines()
                if l.startswith("MobileNetV4Tiny "))
    assert "e1_r64_in1k" in line


def test_a_registered_name_is_not_replaced(tiny):
    with pytest.raises(ValueError, match="registered already"):
        registry.register(_tiny_entry(), MobileNetV4Tiny)


def test_readme_model_tables_show_the_registry_parameters():
    readme = open(os.path.join(ROOT, "README.md")).read()
    for name, entry in registry.ENTRIES.items():
        row = next(l for l in readme.splitlines()
                   if l.startswith(f"| `{name}` |"))
        assert f"| {entry.params:,} |" in row, name


def test_a_name_registered_anew_gets_its_own_reference_taps():
    """Taps of models that do not carry them come from the entry registered
    now, not from an earlier one of the same name."""
    shorter = TINY_STAGES[:2] + (TINY_STAGES[2][:2],) + TINY_STAGES[3:]
    for stages, tap in ((TINY_STAGES, "blocks_2_2_add"),
                        (shorter, "blocks_2_1_add")):
        entry = _tiny_entry()
        entry.arch = dataclasses.replace(entry.arch, stages=stages)
        builder = registry.register(entry, MobileNetV4Tiny)
        try:
            model = builder(weights=None, input_shape=(64, 64, 3))
            bare = keras.Model(model.inputs, model.outputs)  # no taps carried
            assert features.feature_layers(bare)[16] == tap
        finally:
            registry.unregister("MobileNetV4Tiny")
