"""The record of a network's trunk, written by the builder while it builds
each block (timm's `feature_info`): its stride, output layer, channels and
expansion layer. Feature maps, `pyramid_outputs`, SSDLite's C4 and the
segmentation heads' taps read it; `legacy_features` rebuilds it for
models built elsewhere (keras.applications) or saved without it."""

import dataclasses
import typing


@dataclasses.dataclass(frozen=True)
class Block:
    """One block of the trunk, the stem and the last conv included.

    stride: of its output, relative to the input (at most the model's
        `output_stride`: past it, blocks dilate instead).
    output: name of the layer whose output is the block's.
    channels: of that output.
    expansion: name of the layer whose output is the block's expanded map
        before any strided conv (an inverted residual's or UIB's 1x1
        expansion; torchvision's SSDLite taps it as C4), None where it has
        none (V1's depthwise separable block, a fused block, attention).
    """

    stride: int
    output: str
    channels: int
    expansion: typing.Optional[str] = None

    @classmethod
    def of(cls, value):
        """From a `Block` or its config (a dict of its fields)."""
        if isinstance(value, cls):
            return value
        try:
            block = cls(**value)
        except TypeError:
            block = None
        ints = block is not None and all(
            type(v) is int and v > 0 for v in (block.stride, block.channels))
        names = block is not None and isinstance(block.output, str) and (
            block.expansion is None or isinstance(block.expansion, str))
        if not (ints and names):
            raise ValueError(
                "A feature_info block must be a dict of stride (int > 0), "
                "output (layer name), channels (int > 0) and expansion "
                f"(layer name or None). Received: {value!r}")
        return block

    def config(self):
        return dataclasses.asdict(self)


def checked(records):
    """A tuple of `Block`s from `Block`s or their configs, or None."""
    if records is None:
        return None
    if isinstance(records, (str, dict)) or not hasattr(records, "__iter__"):
        raise ValueError("`feature_info` must be a sequence of blocks. "
                         f"Received: feature_info={records!r}")
    records = tuple(Block.of(r) for r in records)
    if not records:
        raise ValueError("`feature_info` must name at least one block. "
                         "Received: feature_info=()")
    return records


def taps(records):
    """{stride: output of the last block at that stride}: the feature maps
    (timm's `feature_location="bottleneck"`, torchvision's FPN backbones)."""
    return {r.stride: r.output for r in records}


def renamed(records, rename):
    """`records` with every layer name passed through `rename`."""
    if records is None:
        return None
    return tuple(dataclasses.replace(
        r, output=rename(r.output),
        expansion=r.expansion and rename(r.expansion)) for r in records)


def names(records):
    """Every layer name the record holds."""
    return {n for r in records or () for n in (r.output, r.expansion) if n}


def c4(records):
    """The layer SSDLite taps at stride 16 (torchvision:
    `features[c4_pos].block[0]`, MobileNetV3 paper section 6.3): the
    expansion of the first block that enters stride 32, else (a block
    without one, whose strided conv reads its input) the last stride-16
    map."""
    for before, block in zip(records, records[1:]):
        if before.stride == 16 and block.stride == 32:
            return block.expansion or before.output
    raise ValueError(
        "Expected a network with blocks entering stride 32 (SSDLite's C4): "
        "build it with output_stride=32. Received: strides "
        f"{sorted({r.stride for r in records})}")
