"""How layers are named: the names are the weight format.

V1-V3 carry the exact names of keras.applications, so official Keras weight
files load by name and `model.get_layer("block_13_expand_relu")` works; V4
carries timm's module paths with dots as underscores
(`blocks_2_1_dw_start_conv` for `blocks.2.1.dw_start.conv`), so a timm
checkpoint converts by a mechanical rename (`weights/timm.py`).

Blocks ask for names by role ("dw", "project_bn", ...); a `Naming` turns a
role into a name from templates whose fields are `p` (the block's prefix),
`n` (the block's index in the network, from 0), `n1` (from 1), `i` (its
stage) and `j` (its index in the stage).
"""

import dataclasses
import re
import typing


@dataclasses.dataclass(frozen=True)
class Naming:
    """One naming scheme.

    - `prefix(i, j, n)`: the block's prefix (`p` in the templates).
    - `roles`: {role: template} for the layers of blocks; roles not listed
      are named `default.format(role=role, ...)` (None: a KeyError).
    - `fixed`: {role: name} of the layers outside blocks (stem, last conv,
      top, pooling, preprocessing); a name of None lets Keras choose.
    - `top_layers`: the layers (timm modules) of the top that a weights
      file may hold and a model built without the top lacks.
    - `block_key`: template of a string naming one block, and
      `block_pattern` the regex that finds those strings in layer names:
      how a model written in this scheme is recognised by its blocks.
    - `row_roles(row)`: {role: template} of the block of `row`, over
      `roles`, where a role's name depends on the row (torchvision numbers
      the modules of a block, so an index counts those before it).
    """

    name: str
    prefix: typing.Callable[[int, int, int], str]
    fixed: typing.Mapping[str, typing.Optional[str]]
    block_key: str
    block_pattern: str
    roles: typing.Mapping[str, str] = dataclasses.field(default_factory=dict)
    default: typing.Optional[str] = None
    top_layers: typing.Tuple[str, ...] = ()  # a file's top, skipped without one
    row_roles: typing.Optional[typing.Callable] = None

    def block(self, i, j, n, row=None):
        """The namer of block j of stage i (block n of the network, built
        from `row`): a function role -> layer name."""
        fields = dict(p=self.prefix(i, j, n), n=n, n1=n + 1, i=i, j=j)
        roles = self.roles
        if self.row_roles is not None and row is not None:
            roles = {**roles, **self.row_roles(row)}

        def name(role):
            template = roles.get(role, self.default)
            if template is None:
                raise KeyError(f"{self.name} naming has no role {role!r}")
            return template.format(role=role, **fields)

        return name

    def key(self, i, j, n):
        return self.block_key.format(p=self.prefix(i, j, n), n=n, n1=n + 1,
                                     i=i, j=j)

    def keys_in(self, layer_names):
        """The block keys that occur in `layer_names`."""
        pattern = re.compile(self.block_pattern)
        return {m.group(0) for m in map(pattern.match, layer_names) if m}


def _keras_block(roles):
    """Roles of keras.applications' V2/V3 inverted residual blocks, given
    the suffix of each after the block prefix."""
    return {role: "{p}" + suffix for role, suffix in roles.items()}


# keras.applications.MobileNet.
KERAS_V1 = Naming(
    name="keras.applications MobileNet",
    prefix=lambda i, j, n: "",
    fixed={
        "stem_conv": "conv1", "stem_bn": "conv1_bn", "stem_act": "conv1_relu",
        "pool": "global_pool", "dropout": "dropout", "classifier": "conv_preds",
        "flatten": "reshape_2", "predictions": "predictions",
        "avg_pool": None, "max_pool": None,
    },
    roles={
        "sep_dw_pad": "conv_pad_{n1}", "sep_dw": "conv_dw_{n1}",
        "sep_dw_bn": "conv_dw_{n1}_bn", "sep_dw_act": "conv_dw_{n1}_relu",
        "sep_pw": "conv_pw_{n1}", "sep_pw_bn": "conv_pw_{n1}_bn",
        "sep_pw_act": "conv_pw_{n1}_relu",
    },
    block_key="conv_pw_{n1}",
    block_pattern=r"^conv_pw_\d+",
)

# keras.applications.MobileNetV2.
KERAS_V2 = Naming(
    name="keras.applications MobileNetV2",
    prefix=lambda i, j, n: f"block_{n}_" if n else "expanded_conv_",
    fixed={
        "stem_conv": "Conv1", "stem_bn": "bn_Conv1", "stem_act": "Conv1_relu",
        "last_conv": "Conv_1", "last_bn": "Conv_1_bn", "last_act": "out_relu",
        "pool": "global_pool", "classifier": "predictions",
        "avg_pool": None, "max_pool": None,
    },
    roles=_keras_block({
        "expand": "expand", "expand_bn": "expand_BN",
        "expand_act": "expand_relu", "dw_pad": "pad", "dw": "depthwise",
        "dw_bn": "depthwise_BN", "dw_act": "depthwise_relu",
        "project": "project", "project_bn": "project_BN", "add": "add",
        "drop_path": "drop_path",  # ours: keras.applications has none
    }),
    block_key="{p}",
    block_pattern=r"^(expanded_conv_|block_\d+_)",
)

# keras.applications.MobileNetV3Small/Large (Keras 3 spelling; the official
# files' Keras 2 spelling maps to it in `weights/h5.canonical_layer_name`).
KERAS_V3 = Naming(
    name="keras.applications MobileNetV3",
    prefix=lambda i, j, n: f"expanded_conv_{n}_" if n else "expanded_conv_",
    fixed={
        "stem_conv": "conv", "stem_bn": "conv_bn", "stem_act": "conv_act",
        "last_conv": "conv_1", "last_bn": "conv_1_bn", "last_act": "conv_1_act",
        "pool": "global_pool", "hidden": "conv_2", "hidden_act": "conv_2_act",
        "dropout": "dropout", "classifier": "logits", "flatten": "flatten",
        "predictions": "predictions", "avg_pool": "avg_pool",
        "max_pool": "max_pool", "preprocessing": "rescaling",
    },
    roles=_keras_block({
        "expand": "expand", "expand_bn": "expand_bn",
        "expand_act": "expand_act", "dw_pad": "depthwise_pad",
        "dw": "depthwise", "dw_bn": "depthwise_bn", "dw_act": "depthwise_act",
        "se_pool": "squeeze_excite_avg_pool", "se_reduce": "squeeze_excite_conv",
        "se_reduce_act": "squeeze_excite_relu",
        "se_expand": "squeeze_excite_conv_1",
        "se_gate": "squeeze_excite_hard_sigmoid",
        "se_mul": "squeeze_excite_mul",
        "project": "project", "project_bn": "project_bn", "add": "add",
        "drop_path": "drop_path",  # ours: keras.applications has none
    }),
    block_key="{p}",
    block_pattern=r"^expanded_conv_(\d+_)?",
)

# timm's MobileNetV4 module paths. A role is the module path within the
# block ("dw_start_conv"); an activation is named after its BatchNorm
# ("pw_exp_bn_act", timm's `BatchNormAct2d.act`), the explicit padding of a
# strided conv after the conv ("dw_mid_conv_pad").
TIMM = Naming(
    name="timm",
    prefix=lambda i, j, n: f"blocks_{i}_{j}_",
    fixed={
        "stem_conv": "conv_stem", "stem_bn": "bn1", "stem_act": "bn1_act",
        "pool": "global_pool", "hidden": "conv_head", "hidden_bn": "norm_head",
        "hidden_act": "norm_head_act", "flatten": "flatten",
        "dropout": "dropout", "classifier": "classifier",
        "avg_pool": "avg_pool", "max_pool": "max_pool",
        "preprocessing": "normalization",
    },
    default="{p}{role}",
    block_key="{p}",
    block_pattern=r"^blocks_\d+_\d+_",
    top_layers=("conv_head", "norm_head", "classifier"),
)

# timm's module paths of its MobileNet V1-V3 (`EfficientNet` and
# `MobileNetV3` classes of timm/models/efficientnet.py and mobilenetv3.py,
# blocks of _efficientnet_blocks.py), written as `TIMM`'s. The blocks number
# their BatchNorms in order: a depthwise separable block (`ds`/`dsa`) has
# conv_dw, bn1, conv_pw, bn2; an inverted residual conv_pw (the expansion),
# bn1, conv_dw, bn2, conv_pwl, bn3; both name their squeeze-excite `se`. The
# conv before pooling of V1 (`100h`) and V2 is `conv_head` with `bn2`; the
# one after pooling of V3 is `conv_head` with `act2`.
TIMM_EFFICIENTNET = Naming(
    name="timm MobileNet V1-V3",
    prefix=lambda i, j, n: f"blocks_{i}_{j}_",
    fixed={
        "stem_conv": "conv_stem", "stem_bn": "bn1", "stem_act": "bn1_act",
        "last_conv": "conv_head", "last_bn": "bn2", "last_act": "bn2_act",
        "pool": "global_pool", "hidden": "conv_head", "hidden_act": "act2",
        "flatten": "flatten", "dropout": "dropout", "classifier": "classifier",
        "avg_pool": "avg_pool", "max_pool": "max_pool",
        "preprocessing": "normalization",
    },
    roles=_keras_block({
        "sep_dw": "conv_dw", "sep_dw_pad": "conv_dw_pad", "sep_dw_bn": "bn1",
        "sep_dw_act": "bn1_act", "sep_pw": "conv_pw", "sep_pw_bn": "bn2",
        "sep_pw_act": "bn2_act",
        "expand": "conv_pw", "expand_bn": "bn1", "expand_act": "bn1_act",
        "dw": "conv_dw", "dw_pad": "conv_dw_pad", "dw_bn": "bn2",
        "dw_act": "bn2_act", "project": "conv_pwl", "project_bn": "bn3",
        "se_pool": "se_pool", "se_reduce": "se_conv_reduce",
        "se_reduce_act": "se_act1", "se_expand": "se_conv_expand",
        "se_gate": "se_gate", "se_mul": "se_mul",
    }),
    default="{p}{role}",  # ConvBnAct (`cn`): conv, bn1, bn1_act; add
    block_key="{p}",
    block_pattern=r"^blocks_\d+_\d+_",
    top_layers=("conv_head", "classifier"),
)


def _torchvision_block(row):
    """Roles of a torchvision MobileNetV3 `InvertedResidual` (its `block`
    Sequential numbers its modules: the expansion where the row expands,
    the depthwise conv, the squeeze-excite where it has one, the
    projection; each conv module a Sequential of conv, BatchNorm,
    activation)."""
    roles, k = {}, 0
    parts = ((("expand", "expand_bn", "expand_act"), row.expand_ratio != 1),
             (("dw", "dw_bn", "dw_act"), True))
    for (conv, bn, act), present in parts:
        if present:
            roles.update({conv: f"{{p}}block_{k}_0",
                          conv + "_pad": f"{{p}}block_{k}_0_pad",
                          bn: f"{{p}}block_{k}_1", act: f"{{p}}block_{k}_2"})
            k += 1
    if row.se:
        roles.update({role: f"{{p}}block_{k}_{module}" for role, module in (
            ("se_pool", "avgpool"), ("se_reduce", "fc1"),
            ("se_reduce_act", "activation"), ("se_expand", "fc2"),
            ("se_gate", "scale_activation"), ("se_mul", "mul"))})
        k += 1
    roles.update(project=f"{{p}}block_{k}_0", project_bn=f"{{p}}block_{k}_1")
    return roles


def torchvision_v3(blocks):
    """torchvision's MobileNetV3 module paths (torchvision/models/
    mobilenetv3.py), written as `TIMM`'s, for a network of `blocks`
    inverted residual blocks: `features.0` the stem, `features.<n>` block n
    (from 1) with its modules in `block` (`_torchvision_block`),
    `features.<blocks + 1>` the last conv, then `avgpool` and the
    `classifier` Sequential (Linear, Hardswish, Dropout, Linear).
    `roles` are those of a block with an expansion and squeeze-excite."""
    last = blocks + 1
    return Naming(
        name="torchvision MobileNetV3",
        prefix=lambda i, j, n: f"features_{n + 1}_",
        fixed={
            "stem_conv": "features_0_0", "stem_bn": "features_0_1",
            "stem_act": "features_0_2", "last_conv": f"features_{last}_0",
            "last_bn": f"features_{last}_1", "last_act": f"features_{last}_2",
            "pool": "avgpool", "hidden": "classifier_0",
            "hidden_act": "classifier_1", "flatten": "flatten",
            "dropout": "classifier_2", "classifier": "classifier_3",
            "avg_pool": "avg_pool", "max_pool": "max_pool",
            "preprocessing": "rescaling",
        },
        roles={**_torchvision_block(_TYPICAL_ROW), "add": "{p}add",
               "drop_path": "{p}drop_path"},
        block_key="{p}block_",
        block_pattern=r"^features_\d+_block_",
        top_layers=("classifier_0", "classifier_3"),
        row_roles=_torchvision_block,
    )


class _TypicalRow:
    """A row with an expansion and squeeze-excite (for `roles`)."""

    expand_ratio = 6.0
    se = 0.25


_TYPICAL_ROW = _TypicalRow()
