"""Every model, by name: its `Arch`, public builder, checkpoints and test
configuration. The command line, the tests' sweeps, feature taps and timm
names all read this one table; an architecture module writes each public
builder as a `def` and adds it with its entry (`register`).
"""

import dataclasses
import inspect
import typing

from . import arguments
from . import spec


@dataclasses.dataclass
class Entry:
    """One public model.

    - `arguments`: its public signature, names of `arguments.ARGUMENTS` in
      order; `defaults` overrides their defaults.
    - `checkpoints`: `weights.sources` records `weights=` may name.
    - `variants`: {boolean argument: Arch -> Arch} applied when it is True
      (MobileNetV3's `minimalistic`).
    - `default_size`: keras.applications' default input size where it has
      one (V1, V2); None: fully convolutional, `(None, None, 3)`.
    - `model_name`: the default `name`, a template of `alpha` and `rows`.
    - `weights_note`: what the docstring says of the weights (default: the
      `weights_summary` of the checkpoints).
    - `params`: trainable parameters at the builder's default alpha (1,
      but for timm's `d` networks: their checkpoints' width) with the
      1000-class top (what `keras-mobilenets list` prints without building;
      a test checks it against the built model).
    - `test_config`: a narrow configuration that builds fast: what tests
      sweep every model with.
    - `timm_name`, `timm_alphas`: timm's architecture at alpha 1, and the
      other widths timm registers (0.5 -> "<timm_name>_050") (MobileNetV4).
    - `timm_architectures`: {timm architecture: alpha} of a timm network
      that names its widths otherwise (timm's V1-V3, `archs/_timm_v1_v3`).
      `timm_names()` gives both.
    """

    name: str
    arch: spec.Arch
    arguments: typing.Tuple[str, ...]
    title: str
    paper: str
    preprocess_input: typing.Callable
    preprocessing_doc: str
    params: typing.Optional[int]
    weights_note: str = ""  # docstring text on the weights; default: summary
    checkpoints: tuple = ()
    variants: typing.Mapping[str, typing.Callable] = dataclasses.field(
        default_factory=dict)
    defaults: typing.Mapping[str, object] = dataclasses.field(
        default_factory=dict)
    default_size: typing.Optional[int] = None
    model_name: str = ""
    test_config: typing.Mapping[str, object] = dataclasses.field(
        default_factory=dict)
    timm_name: typing.Optional[str] = None
    timm_alphas: typing.Tuple[float, ...] = ()
    timm_architectures: typing.Mapping[str, float] = dataclasses.field(
        default_factory=dict)
    builder: typing.Optional[typing.Callable] = None  # set by `register`

    @property
    def tags(self):
        return tuple(c.tag for c in self.checkpoints if c.tag)

    def arch_for(self, opts):
        arch = self.arch
        for option, transform in self.variants.items():
            if getattr(opts, option):
                arch = transform(arch)
        return arch

    def timm_names(self):
        """{timm architecture: alpha} of every timm network this model
        builds: each width of `timm_name` timm registers (V4) and
        `timm_architectures` (V1-V3); empty for keras.applications'."""
        names = {} if self.timm_name is None else {
            self.timm_name if a == 1.0 else
            f"{self.timm_name}_{round(a * 100):03d}": a
            for a in (1.0,) + tuple(self.timm_alphas)}
        return {**names, **self.timm_architectures}

    def preprocess(self, images):
        return self.preprocess_input(images)

    def weights_summary(self):
        """The checkpoints in one line: timm tags, or alphas x sizes (and
        the arguments they need where those are not the defaults)."""
        if self.tags:  # a tag shared by several alphas, named once
            return "timm tags " + ", ".join(dict.fromkeys(self.tags))
        groups = {}
        for c in self.checkpoints:
            needs = "".join(f" {k}={v}" for k, v in c.options.items()
                            if v != arguments.ARGUMENTS[k].default)
            groups.setdefault(needs, {}).setdefault(c.alpha, []).append(c.size)
        parts = []
        for needs, sizes_of in groups.items():
            by_sizes = {}
            for alpha, sizes in sizes_of.items():
                by_sizes.setdefault(tuple(sizes), []).append(alpha)
            parts += [f"alpha {'/'.join(map(str, alphas))}{needs} x "
                      f"{'/'.join(map(str, sizes))}"
                      for sizes, alphas in by_sizes.items()]
        return "; ".join(parts)


# The preprocessing of models that normalise their input themselves (V4,
# timm's V1-V3): what their docstrings say, and their `preprocess_input`.
SELF_NORMALISING_DOC = (
    "the model itself (`include_preprocessing=True`: the mean and std of the "
    "checkpoint `weights` names, else of the default one); "
    "`preprocess_input` is the identity")


def identity_preprocess(x, data_format=None):
    """The identity: the model normalises its input itself
    (`include_preprocessing=True`)."""
    return x


def keras_scaled_entry(name, module, preprocess_input, **fields):
    """The `Entry` of a keras.applications network whose inputs are scaled to
    [-1, 1] by `preprocess_input` (V1, V2), trained at 224 by default;
    `module` names the keras.applications-style module that exports it."""
    return Entry(name=name, preprocess_input=preprocess_input,
                 preprocessing_doc=f"`keras_mobilenets.{module}."
                 "preprocess_input` (scales pixels from [0, 255] to [-1, 1])",
                 default_size=224, **fields)


def self_normalising_entry(name, **fields):
    """The `Entry` of a timm network that normalises its input itself (V4,
    timm's V1-V3): V4's arguments, the identity `preprocess_input`, named
    `name`."""
    return Entry(name=name, arguments=arguments.V4,
                 preprocess_input=identity_preprocess,
                 preprocessing_doc=SELF_NORMALISING_DOC, model_name=name,
                 **fields)


ENTRIES = {}


def docstring(entry):
    """The docstring of `entry`'s public builder, from the template
    (`arguments.docstring`)."""
    return arguments.docstring(
        entry.title, entry.paper, entry.arguments, entry.preprocessing_doc,
        entry.weights_note or "ImageNet weights (keras.applications' files): "
        f"{entry.weights_summary()}.", _argument_docs(entry))


def _argument_docs(entry):
    """{argument: docstring text} where `entry`'s differs from the
    template's: the default alpha where it is not 1, the pre-logits."""
    docs = {}
    alpha = entry.defaults.get("alpha")
    if alpha is not None:
        timm = {a: n for n, a in entry.timm_names().items()}.get(alpha)
        docs["alpha"] = (arguments.ARGUMENTS["alpha"].doc + f" Defaults to "
                         f"{alpha}" + (f", timm's `{timm}`" if timm else "")
                         + f" ({entry.params:,} trainable parameters with "
                         "the top).")
    if "include_pre_logits" in entry.arguments:
        docs["include_pre_logits"] = arguments.PRE_LOGITS_DOC.format(
            top=pre_logits_doc(entry.arch))
    return docs


def pre_logits_doc(arch):
    """What the top of `arch` without its classifier is and returns, at
    alpha 1 (`include_pre_logits=True`): the wide 1x1 conv after the
    pooling (V3, V4), the one before it (timm's V2, V1 `100h`), or the
    pooling alone (timm's V1)."""
    top, head = arch.top, arch.last_conv
    if top.hidden:
        layers = ("its BatchNorm and activation" if top.hidden_norm
                  else "its activation")
        width = (f"{top.hidden} at every alpha, as timm's"
                 if top.hidden_scale == "fixed" else "scaled with alpha")
        return (f"global average pooling, the 1x1 `conv_head` conv, {layers}, "
                f"a (samples, {top.hidden}) output ({width})")
    if head is not None:
        width = {"fixed": f"{head.filters} at every alpha",
                 "widen": f"{head.filters} up to alpha 1, {head.filters} * "
                 "alpha rounded to 8 above"}.get(head.scale, "scaled with alpha")
        return (f"the 1x1 `conv_head` conv, its BatchNorm and activation, "
                f"then global average pooling, a (samples, {head.filters}) "
                f"output ({width}, as timm's)")
    last = arch.stages[-1][-1].filters
    return (f"the global average pooling of the last block (as "
            f"`pooling=\"avg\"`), a (samples, {last}) output at alpha 1 "
            "(the block's width at any other, as timm's `num_features`)")


def register(entry, builder):
    """Adds `entry` with its public builder, a `def` named as the entry that
    hands its arguments to `builder.build(entry, ...)`; gives the builder
    the template's docstring where it has none. Returns the builder."""
    if entry.name in ENTRIES:
        raise ValueError(f"A model named {entry.name!r} is registered already.")
    if not inspect.isfunction(builder) or builder.__name__ != entry.name:
        raise TypeError(
            f"The builder of {entry.name!r} must be a function defined as "
            f"`def {entry.name}(...)` (its signature: `arguments.signature"
            f"(entry.arguments, entry.defaults)`). Received: {builder!r}")
    if not builder.__doc__:
        builder.__doc__ = docstring(entry)
    entry.builder = builder
    ENTRIES[entry.name] = entry
    return builder


def unregister(name):
    ENTRIES.pop(name)


def get(name):
    try:
        return ENTRIES[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}; choose one of {', '.join(ENTRIES)}."
        ) from None


def timm_names():
    """{timm architecture: (entry, alpha)} of every timm network of the
    registry, V1 to V4: what `from_preset`, `weights="hf-hub:..."` and
    `convert timm --model` look a timm name up in."""
    return {timm: (entry, alpha) for entry in ENTRIES.values()
            for timm, alpha in entry.timm_names().items()}


def _cell(value):
    return "-" if value is None else str(value)


def timm_checkpoint_table():
    """Every timm checkpoint of the registry, V1 to V4, as a markdown table
    (the one in docs/checkpoints.md), one row per tag: model, alpha, tag
    (`weights=` takes it; "imagenet" names the default), classes, training
    size and crop, timm's ImageNet-1k top-1 there, and the same at the test
    size."""
    lines = ["| model | alpha | tag | classes | size | crop | top-1 "
             "| test size | test crop | top-1 at test size |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for entry in ENTRIES.values():
        if not entry.timm_names():
            continue
        for c in entry.checkpoints:
            tag = f"`{c.tag}`" + (" (default)" if c.default else "")
            cells = (f"`{entry.name}`", c.alpha, tag, c.num_classes,
                     c.input_size, c.crop_pct, c.top1, c.test_input_size,
                     c.test_crop_pct, c.test_top1)
            lines.append("| " + " | ".join(map(_cell, cells)) + " |")
    return "\n".join(lines)


def best_top1(entry):
    """(top-1, timm architecture, tag, input size) of the best figure timm
    publishes for a checkpoint of `entry`, at its training or test size;
    None where it has none."""
    found = [(top1, c.model, c.tag, size) for c in entry.checkpoints
             for top1, size in ((c.top1, c.input_size),
                                (c.test_top1, c.test_input_size))
             if top1 is not None]
    return max(found, default=None)


def timm_v1_v3_model_table():
    """timm's V1-V3 networks of the registry as a markdown table (the one in
    README.md): model, parameters at the default alpha, its checkpoints
    (`from_preset` names), the best top-1 of `timm_checkpoint_table`
    (`best_top1`) with its checkpoint, where there are several, and the
    size it is at, and the paper."""
    lines = ["| model | parameters | timm checkpoints | best top-1 "
             "| reference |", "|---|---:|---|---|---|"]
    for entry in ENTRIES.values():
        if not entry.timm_architectures:
            continue
        names = ", ".join(f"`{c.model}.{c.tag}`" for c in entry.checkpoints)
        top1, model, tag, size = best_top1(entry)
        which = "" if len(entry.checkpoints) == 1 else f"`{model}.{tag}` "
        paper = entry.paper.rsplit("/", 1)[-1]
        lines.append(f"| `{entry.name}` | {entry.params:,} | {names} "
                     f"| {top1:.2f} ({which}at {size}) "
                     f"| [{paper}]({entry.paper}) |")
    return "\n".join(lines)


def backbone_arguments(arguments, taken, owner):
    """A task model's `backbone_arguments` as a dict, refused where they set
    what `owner` (the task model) sets itself (`taken`)."""
    arguments = dict(arguments or {})
    if set(taken) & set(arguments):
        raise ValueError(
            f"`backbone_arguments` may not set {sorted(taken)}: {owner} sets "
            f"them. Received: backbone_arguments={arguments!r}")
    return arguments
