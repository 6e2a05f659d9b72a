"""Every model, by name: its `Arch`, public builder, checkpoints and test
configuration. The command line, the tests' sweeps, feature taps and timm
names all read this one table; an architecture module writes each public
builder as a `def` and adds it with its entry (`register`). What the
resolver reads of an entry is its `pretrained` record; the text made from
entries (docstrings, tables) is `renderers`'.
"""

import dataclasses
import inspect
import typing

from . import arguments
from . import renderers
from . import spec
from . import weights


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
    - `weights_note`: what the docstring adds to the note on the weights
      that `renderers.weights_note` writes from the checkpoints.
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
    - `swept`: whether the tests that sweep every entry (`swept()`) build
      it; False for MobileNetV5, whose 2,500-layer networks take tens of
      seconds a build on each backend (its own tests build small networks
      of its classes).
    """

    name: str
    arch: spec.Arch
    arguments: typing.Tuple[str, ...]
    title: str
    paper: str
    preprocess_input: typing.Callable
    preprocessing_doc: str
    params: typing.Optional[int]
    weights_note: str = ""  # docstring text after the checkpoints' note
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
    swept: bool = True
    builder: typing.Optional[typing.Callable] = None  # set by `register`

    @property
    def pretrained(self):
        """What `weights.resolve` reads of this model: its checkpoints and
        tags, its timm (hub) names, keras.applications' default size and
        whether it normalises with a checkpoint's mean and std."""
        return weights.Pretrained(
            name=self.name, checkpoints=tuple(self.checkpoints),
            hub_names=self.timm_names(), default_size=self.default_size,
            normalises=self.arch.preprocessing == "normalize")

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
        builder.__doc__ = renderers.docstring(entry)
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


def swept():
    """{name: entry} of the entries the tests sweep (`Entry.swept`): every
    one but MobileNetV5's."""
    return {name: e for name, e in ENTRIES.items() if e.swept}


def timm_names(entries=None):
    """{timm architecture: (entry, alpha)} of every timm network of
    `entries` (default: the registry's): what `from_preset`,
    `weights="hf-hub:..."` and `convert timm --model` look a timm name up
    in. A network two entries load (MobileNetV5_300MEncoder loads
    `mobilenetv5_300m`'s checkpoints) is the entry's whose `timm_name` it
    is, not one that lists it in `timm_architectures`."""
    names = {}
    for entry in ENTRIES.values() if entries is None else entries:
        for timm, alpha in entry.timm_names().items():
            if timm not in names or timm not in entry.timm_architectures:
                names[timm] = (entry, alpha)
    return names


def backbone_arguments(arguments, taken, owner):
    """A task model's `backbone_arguments` as a dict, refused where they set
    what `owner` (the task model) sets itself (`taken`)."""
    arguments = dict(arguments or {})
    if set(taken) & set(arguments):
        raise ValueError(
            f"`backbone_arguments` may not set {sorted(taken)}: {owner} sets "
            f"them. Received: backbone_arguments={arguments!r}")
    return arguments
