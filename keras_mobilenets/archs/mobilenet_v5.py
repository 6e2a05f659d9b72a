"""MobileNetV5: the vision encoder of Gemma 3n.

MobileNetV4's blocks (FusedIB, UIB, multi-query attention with key and value
downsampling) with RMSNorm in place of BatchNorm, GELU (tanh), layer scale,
a stem convolution with a bias, and a neck: the multi-scale fusion adapter,
which fuses the last two stages into a 16x16 map of 2048 channels (256
tokens). There is no MobileNetV5 paper; the networks are timm's
(`mobilenetv5_*` in timm/models/mobilenetv5.py, timm 1.0.31), the rows
transcribed from its `_gen_mobilenet_v5` arch strings, and layer names are
its module paths, so its checkpoints convert mechanically (`weights/timm.py`).

The Gemma 3n weights (`mobilenetv5_300m.gemma3n`) are under the Gemma terms
of use (https://ai.google.dev/gemma/terms): they are downloaded by the user
from the Hugging Face hub, never shipped with this package.
"""

import dataclasses
import sys

from .. import arguments, builder, naming, registry
from ..spec import MSFA, Arch, Conventions, ConvBN, Top
from ..checkpoints import ZERO_ONE, checkpoint
from .mobilenet_v4 import fused_ib, mqa, uib  # V4's rows, V4's words


def with_mqa(attention, row, n):
    """n times `attention` then `row` (timm's 300m and base end their last
    two stages so)."""
    return (attention, row) * n


# The first two stages of both models.
FIRST_STAGES = (
    (fused_ib(3, 2, 128, 4.0), fused_ib(3, 1, 128, 4.0),
     fused_ib(3, 1, 128, 4.0)),
    (uib(3, 5, 2, 256, 6.0), uib(5, 0, 1, 256, 4.0), uib(3, 0, 1, 256, 4.0),
     uib(5, 0, 1, 256, 4.0), uib(3, 0, 1, 256, 4.0)),
)

STAGES_300M = FIRST_STAGES + (
    (
        uib(5, 5, 2, 640, 6.0),
        *(uib(5, 0, 1, 640, 4.0),) * 7,
        uib(0, 0, 1, 640, 1.0),  # FFN
        # keys and values downsampled 2x
        *with_mqa(mqa(12, 64, 2, 640), uib(0, 0, 1, 640, 2.0), 14),
    ),
    (
        uib(5, 5, 2, 1280, 6.0),
        *with_mqa(mqa(16, 96, 1, 1280), uib(0, 0, 1, 1280, 2.0), 19),
    ),
)

# timm's "WIP classification config" (its attention rows of the third
# stage say `s2`, which timm's builder drops: a stride applies to the
# first row of a stage only).
STAGES_BASE = FIRST_STAGES + (
    (
        uib(5, 5, 2, 512, 6.0),
        *(uib(5, 0, 1, 512, 4.0),) * 2,
        uib(0, 0, 1, 512, 1.0),
        *with_mqa(mqa(8, 64, 1, 512), uib(0, 0, 1, 512, 2.0), 6),
    ),
    (
        uib(5, 5, 2, 1024, 6.0),
        *with_mqa(mqa(16, 64, 1, 1024), uib(0, 0, 1, 1024, 2.0), 7),
    ),
)

# The adapter: the outputs at strides 16 and 32 (timm's `msfa_indices`
# (-2, -1) of its feature taps) to 16x16 of 2048 channels.
ADAPTER = MSFA(strides=(16, 32), filters=2048, output_resolution=16)

# timm's module paths, as MobileNetV4's, but for the stem (`ConvNormAct`)
# and the neck.
NAMING = dataclasses.replace(naming.TIMM, fixed={
    **naming.TIMM.fixed, "stem_conv": "conv_stem_conv",
    "stem_bn": "conv_stem_bn", "stem_act": "conv_stem_bn_act",
    "neck": "msfa"})


def conventions(padding):
    """timm's MobileNetV5: RMSNorm (eps 1e-6), GELU (tanh), layer scale
    1e-5; strided convs padded as PyTorch (`symmetric`, timm's default) or
    as TensorFlow's SAME (`correct`: the encoder timm builds for Gemma 3n
    in Transformers, `pad_type="same"`)."""
    return Conventions(activation="gelu_tanh", norm="rms", bn_epsilon=1e-6,
                       padding=padding, pad_all=True, layer_scale=1e-5)


def arch(name, stages, padding="symmetric"):
    return Arch(
        name=name,
        # timm scales the stem only when widening (`fix_stem=alpha < 1`).
        stem=ConvBN(3, 2, 64, scale="widen", bias=True),
        stages=stages,
        neck=ADAPTER,
        # Global average pooling of the adapter's map, then the classifier.
        top=Top(classifier="dense"),
        naming=NAMING,
        conventions=conventions(padding),
        width="divisible",
        preprocessing="normalize",
    )


# timm's pretrained_cfg of its one checkpoint (no classifier, pixels in
# [0, 1]); the Gemma 3n weights, under the Gemma terms.
GEMMA3N = checkpoint("mobilenetv5_300m.gemma3n", 1.0, 768, 1.0, ZERO_ONE,
                     default=True, num_classes=0)

GEMMA_TERMS = (
    "The Gemma 3n weights are provided under and subject to the Gemma Terms "
    "of Use found at ai.google.dev/gemma/terms.")

# V4's arguments but the pre-logits (the top has no hidden conv) and the
# output stride (the adapter reads the stride-32 stage).
ARGUMENTS = tuple(a for a in arguments.V4
                  if a not in ("include_pre_logits", "output_stride"))
DEFAULTS = dict(input_shape=(768, 768, 3), weights=None)

# What the docstrings add to the note on the weights (`renderers.
# weights_note`): the Gemma 3n checkpoint's terms, or that there is none.
GEMMA_NOTE = (
    "'gemma3n' is Gemma 3n's vision encoder, without a classifier: pass "
    "`include_top=False`; its weights are under the Gemma terms of use "
    "(ai.google.dev/gemma/terms), shown when they load.")
NO_WEIGHTS_NOTE = (
    "No pretrained weights: `weights` takes None, the path of a timm "
    ".safetensors checkpoint of this architecture, or 'hf-hub:<repo_id>'.")
INPUT_NOTE = (
    "The input size must be known (the adapter resizes to 16x16); without "
    "the top the model returns the adapter's map, 256 tokens of 2048.")


def _entry(name, title, timm_name, stages, params, padding="symmetric",
           checkpoints=(), preprocessing="normalize", test_alpha=0.25,
           also_loads=()):
    entry = registry.self_normalising_entry(
        name, arch=dataclasses.replace(arch(name, stages, padding),
                                       preprocessing=preprocessing),
        title=title, paper="https://arxiv.org/abs/2404.10518 (its blocks)",
        weights_note=(GEMMA_NOTE if checkpoints else NO_WEIGHTS_NOTE)
        + " " + INPUT_NOTE, params=params, checkpoints=checkpoints,
        test_config=dict(alpha=test_alpha, input_shape=(64, 64, 3)),
        timm_name=timm_name,
        timm_architectures={n: 1.0 for n in also_loads})
    entry = dataclasses.replace(entry, arguments=ARGUMENTS,
                                defaults=DEFAULTS)
    if preprocessing == "rescale":
        entry.preprocessing_doc = (
            "the model itself (`include_preprocessing=True`: [0, 255] to "
            "[-1, 1], timm's Inception mean and std); `preprocess_input` is "
            "the identity")
    # Registered (`_public`), but left out of the tests' sweeps: they
    # would build these 2,500-layer networks on every backend.
    entry.swept = False
    ENTRIES[name] = entry
    return entry


def _public(build):
    """Registers the entry's public builder `build` (a def of the entry's
    name), with its docstring."""
    return registry.register(ENTRIES[build.__name__], build)


def _build(entry, **kwargs):
    """`builder.build`, showing the Gemma terms where it loads weights
    under them: the 'gemma3n' checkpoint, or a timm repository (hub or
    folder) whose config says `license: gemma`."""
    # What `weights=` names (its config.json for a repository), and the
    # argument errors, before anything is built.
    opts, resolved = builder.resolve(entry, **kwargs)
    source = resolved.source
    model = builder.build_resolved(entry, opts, resolved)
    if source is not None and (source == GEMMA3N or getattr(
            source, "license", None) == "gemma"):
        print(GEMMA_TERMS, file=sys.stderr)
    return model


ENTRIES = {}
preprocess_input = registry.identity_preprocess


_entry("MobileNetV5_300M", "MobileNetV5-300M", "mobilenetv5_300m",
       STAGES_300M, 296_175_912, checkpoints=(GEMMA3N,))
# The same network and weights as Gemma 3n runs it in Transformers (timm's
# `mobilenetv5_300m_enc`): TensorFlow's SAME padding of strided convs.
_entry("MobileNetV5_300MEncoder", "MobileNetV5-300M encoder",
       "mobilenetv5_300m_enc", STAGES_300M, 296_175_912, padding="correct",
       checkpoints=(GEMMA3N,), also_loads=("mobilenetv5_300m",))
# timm's base model, untrained; its recipe is Inception's normalisation,
# [0, 255] -> [-1, 1].
_entry("MobileNetV5Base", "MobileNetV5-Base", "mobilenetv5_base",
       STAGES_BASE, 82_647_976, preprocessing="rescale")


@_public
def MobileNetV5_300M(
        input_shape=(768, 768, 3), alpha=1.0, include_top=True, weights=None,
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0):
    return _build(ENTRIES["MobileNetV5_300M"], **locals())


@_public
def MobileNetV5_300MEncoder(
        input_shape=(768, 768, 3), alpha=1.0, include_top=True, weights=None,
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0):
    return _build(ENTRIES["MobileNetV5_300MEncoder"], **locals())


@_public
def MobileNetV5Base(
        input_shape=(768, 768, 3), alpha=1.0, include_top=True, weights=None,
        input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
        classifier_activation="softmax", include_preprocessing=True, name=None,
        drop_path_rate=0.0):
    return _build(ENTRIES["MobileNetV5Base"], **locals())
