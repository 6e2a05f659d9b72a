"""The row vocabulary every MobileNet is written in, and the `Arch` record.

A model is a stem, stages of rows and a top, plus the conventions of its
reference implementation. Rows are small frozen dataclasses, read against the
papers' tables; `builder.py` turns an `Arch` into a Keras model and
`blocks.py` has one function per row type.
"""

import dataclasses
import math
import typing


@dataclasses.dataclass(frozen=True)
class ConvBN:
    """Convolution, BatchNorm, activation (timm `cn`).

    `scale` says how `alpha` applies to `filters`: "alpha" (the width rule of
    the `Arch`), one of those rules by name, "fixed" (never scaled), or
    "widen" (scaled only when alpha > 1: MobileNetV2 paper, section 3.4). With `expand_ratio` the width
    is that multiple of the input's instead (MobileNetV3's last conv).
    """

    kernel_size: int
    stride: int
    filters: typing.Optional[int] = None
    scale: str = "alpha"
    expand_ratio: typing.Optional[float] = None
    act: typing.Optional[str] = "default"  # "default": the Arch's activation
    bias: bool = False  # a bias on the conv too (MobileNetV5's stem)


@dataclasses.dataclass(frozen=True)
class DepthwiseSeparable:
    """Depthwise 3x3 conv-BN-act, then pointwise conv-BN-act (MobileNet V1;
    timm `dsa`). timm's `ds` (the first block of its V2 and V3) has a
    linear pointwise conv (`pw_act=False`), optional squeeze-excite on the
    depthwise output (`se`, as `InvertedResidual`) and a residual where
    stride and width allow (`residual`)."""

    filters: int
    stride: int
    kernel_size: int = 3
    pw_act: bool = True
    se: float = 0.0
    residual: bool = False
    act: str = "default"


@dataclasses.dataclass(frozen=True)
class InvertedResidual:
    """1x1 expansion, depthwise conv, optional squeeze-excite, linear 1x1
    projection, residual where shapes allow (MobileNet V2 and V3). No
    expansion conv when `expand_ratio` is 1; `se` is the squeeze ratio of the
    expanded width (0 for none)."""

    kernel_size: int
    expand_ratio: float
    filters: int
    stride: int
    se: float = 0.0
    act: str = "default"


@dataclasses.dataclass(frozen=True)
class FusedIB:
    """Fused inverted bottleneck (timm `er`): k x k expansion conv, linear
    1x1 projection."""

    kernel_size: int
    stride: int
    filters: int
    expand_ratio: float


@dataclasses.dataclass(frozen=True)
class UIB:
    """Universal Inverted Bottleneck (timm `uir`); a kernel of 0 is no conv."""

    start_dw_kernel: int
    mid_dw_kernel: int
    stride: int
    filters: int
    expand_ratio: float


@dataclasses.dataclass(frozen=True)
class MQA:
    """Mobile multi-query attention (timm `mqa`); key_dim = value_dim."""

    num_heads: int
    key_dim: int
    kv_stride: int
    filters: int
    kv_dw_kernel: int = 3

    @property
    def stride(self):
        return 1  # attention keeps the resolution


@dataclasses.dataclass(frozen=True)
class MSFA:
    """A neck (`Arch.neck`): MobileNetV5's multi-scale fusion adapter (timm
    `MobileNetV5MultiScaleFusionAdapter`). The last outputs at `strides`
    resized (nearest) to the first one's size and concatenated, a 1x1 FFN
    (expand by `expand_ratio`, activation, project to `filters`; no
    residual), resized to `output_resolution` (average pooling where it
    divides, else bilinear), then normalised."""

    strides: typing.Tuple[int, ...]
    filters: int
    output_resolution: int
    expand_ratio: float = 2.0


Row = typing.Union[ConvBN, DepthwiseSeparable, InvertedResidual, FusedIB, UIB,
                   MQA]


def repeat(n, row):
    """`n` copies of `row`, the stride on the first only (the papers' `n`)."""
    return (row,) + (dataclasses.replace(row, stride=1),) * (n - 1)


@dataclasses.dataclass(frozen=True)
class Top:
    """The classifier: global average pooling, an optional wide 1x1 conv
    (`hidden`, MobileNetV3's efficient last stage; with BatchNorm and no
    bias where `hidden_norm`, as MobileNetV4), dropout, then a Dense or 1x1
    conv classifier. `hidden_scale` as `ConvBN.scale`."""

    classifier: str = "dense"  # "dense" or "conv"
    hidden: typing.Optional[int] = None
    hidden_scale: str = "fixed"
    hidden_norm: bool = False
    hidden_bias: bool = True  # without `hidden_norm` (timm's mobilenetv3_rw: none)
    always_dropout: bool = False  # a Dropout layer even at rate 0 (V1)


@dataclasses.dataclass(frozen=True)
class Conventions:
    """What differs between reference implementations besides the rows:
    the activation of rows that name none, BatchNorm epsilon and (Keras)
    momentum, the explicit padding of strided depthwise convs (of all
    strided convs where `pad_all`; see `blocks.stride_padding`), the initial
    value of a LayerScale on residual branches (None: none) and the
    anti-aliased downsampling of blocks (`downsample`, timm's `aa_layer`):
    None, "avg" (2x2 average pooling) or "blur" (`layers.BlurPool2D`). With
    one, the strided convolution of a `ConvBN`, `FusedIB` or `UIB` row runs
    at stride 1, and that layer downsamples after its BatchNorm and
    activation; the stem and attention keep their strided convolutions."""

    activation: str = "relu6"
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.999
    padding: str = "correct"
    pad_all: bool = False  # pad every strided conv explicitly, not only depthwise
    layer_scale: typing.Optional[float] = None
    downsample: typing.Optional[str] = None
    # Squeeze-excite: how the reduced width is rounded ("divisible":
    # make_divisible, "round": Python's round, timm's mobilenetv3_rw) and
    # the activation after the reduction (None: the block's).
    se_round: str = "divisible"
    se_act: typing.Optional[str] = "relu"
    # The normalisation of every block: "batch" (BatchNorm, `bn_epsilon`,
    # `bn_momentum`) or "rms" (RMSNorm over channels, `bn_epsilon`:
    # MobileNetV5's RmsNorm2d).
    norm: str = "batch"


@dataclasses.dataclass(frozen=True)
class Arch:
    """One network: rows and the conventions of its reference.

    - `width`: how alpha scales a row's filters: "floor" int(c * alpha)
      (keras.applications V1), "floor_divisible" make_divisible(int(c *
      alpha)) (V2), "divisible" make_divisible(c * alpha) (V3, timm).
    - `preprocessing`: None, "rescale" ([0, 255] -> [-1, 1] in the model)
      or "normalize" (the checkpoint's mean and std, in the model).
    - `naming`: a `naming.Naming`, how layers are named (the weight format).
    """

    name: str
    stem: ConvBN
    stages: typing.Tuple[typing.Tuple[Row, ...], ...]
    top: Top
    naming: object
    conventions: Conventions = Conventions()
    width: str = "divisible"
    preprocessing: typing.Optional[str] = None
    last_conv: typing.Optional[ConvBN] = None  # after the stages, before the top
    neck: typing.Optional[MSFA] = None  # after the stages, reads their taps


def scale_depth(stage, multiplier=1.0):
    """The rows of a stage written as (row, repeats) pairs, with the repeats
    scaled by `multiplier` as timm's `_scale_stage_depth` does (its "ceil"
    rule: the stage's total is ceil(total * multiplier), shared out over
    the pairs from the last one, each keeping at least one); the stride on
    the first row of the stage only."""
    total = sum(n for _, n in stage)
    left = int(math.ceil(total * multiplier))
    scaled = []
    for _, n in reversed(stage):
        share = max(1, round(n / total * left))
        scaled.append(share)
        total, left = total - n, left - share
    rows = tuple(dataclasses.replace(row, stride=1) for (row, _), k in
                 zip(stage, reversed(scaled)) for _ in range(k))
    return (dataclasses.replace(rows[0], stride=stage[0][0].stride),) + rows[1:]
