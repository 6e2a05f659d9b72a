"""Segmentation models called like the classifiers: a MobileNet backbone (a
registry name or a model built by this package), a head of `heads`, and
logits resized to the input size."""

import keras

from .. import features, registry
from . import heads
from ..model import Model

LOSS_AND_METRIC = """Train with per-pixel integer labels and
`keras.losses.SparseCategoricalCrossentropy(from_logits=True)` (its
`ignore_class` for void pixels, e.g. 255 in Pascal VOC); measure with
`keras_mobilenets.segmentation.mean_iou(classes)`."""

COMMON = """backbone: A registry name (e.g. "MobileNetV4ConvSmall"; see
            `keras_mobilenets.registry.ENTRIES`) or a model built by this
            package without its top (then `input_shape`, `backbone_weights`,
            `output_stride` and `backbone_arguments` are not used).
        classes: Number of classes, background included.
        input_shape: Shape of the images without batch; None for any size.
        backbone_weights: `weights` of the backbone builder: "imagenet", a
            tag, a path, an "hf-hub:" repository or None.
        output_stride: The backbone's `output_stride`.
        backbone_arguments: Other arguments of the backbone builder, a dict
            (e.g. `{"alpha": 0.75}`)."""

RATES = "atrous_rates: Dilation rates of ASPP's 3x3 branches."


def _documented(own):
    """Ends a builder's docstring with the loss and metric to train with and
    its arguments: `COMMON`, then `own` (its own), then `name`."""
    def document(builder):
        builder.__doc__ += f"""

    {LOSS_AND_METRIC}

    Args:
        {COMMON}
        {own}
        name: Name of the model.
    """
        return builder
    return document


def mean_iou(classes, name="mean_iou"):
    """Keras' own `MeanIoU` over the argmax of per-pixel logits."""
    return keras.metrics.MeanIoU(num_classes=classes, sparse_y_pred=False,
                                 name=name)


def _backbone(backbone, input_shape, weights, output_stride, arguments):
    """The backbone model and its feature taps {stride: tensor}."""
    if isinstance(backbone, str):
        entry = registry.get(backbone)
        arguments = registry.backbone_arguments(
            arguments, ("include_top", "weights", "input_shape", "output_stride"),
            "the segmentation model")
        backbone = entry.builder(include_top=False, weights=weights,
                                 input_shape=input_shape,
                                 output_stride=output_stride, **arguments)
    elif not isinstance(backbone, keras.Model):
        raise TypeError(
            "`backbone` must be a model name (one of "
            f"{', '.join(registry.ENTRIES)}) or a keras.Model built by "
            f"keras_mobilenets. Received: backbone={backbone!r}")
    taps = features.feature_layers(backbone)
    return backbone, {s: backbone.get_layer(n).output for s, n in taps.items()}


def _finish(backbone, logits, name):
    image = backbone.inputs[0]
    logits = heads.ResizeLike(name="logits")([logits, image])
    return Model(backbone.inputs[0], logits, name=name)


def _check_rates(rates):
    if (not isinstance(rates, (tuple, list)) or not rates
            or not all(type(r) is int and r > 0 for r in rates)):
        raise ValueError(
            "`atrous_rates` must be a non-empty tuple of positive ints. "
            f"Received: atrous_rates={rates!r}")
    return tuple(rates)


@_documented("inter_channels: Width of the head's gated branch (128).")
def LRASPP(backbone="MobileNetV3Large", classes=21, input_shape=None,
           backbone_weights="imagenet", output_stride=16, inter_channels=128,
           backbone_arguments=None, name=None):
    """Lite R-ASPP segmentation (MobileNetV3 paper, section 6.4).

    The head (`heads.lraspp_head`, torchvision's `LRASPPHead`) takes the
    backbone's last map (stride 16 at the paper's `output_stride=16`) and
    its map at stride 8 (the last block at that stride, as the paper; torchvision's
    `lraspp_mobilenet_v3_large` taps the first). Returns a functional
    `keras.Model` whose output is per-pixel logits `(batch, rows, cols,
    classes)` at the input size."""
    backbone, maps = _backbone(backbone, input_shape, backbone_weights,
                               output_stride, backbone_arguments)
    if max(maps) <= 8:
        raise ValueError(
            "LR-ASPP needs the last map coarser than stride 8: use "
            f"output_stride 16 or 32. Received: output_stride={max(maps)}")
    logits = heads.lraspp_head(maps[8], maps[max(maps)], classes,
                               inter_channels)
    return _finish(backbone, logits, name or f"lraspp_{backbone.name}")


@_documented(RATES)
def DeepLabV3(backbone="MobileNetV3Large", classes=21, input_shape=None,
              backbone_weights="imagenet", output_stride=16,
              atrous_rates=(12, 24, 36), backbone_arguments=None, name=None):
    """DeepLabV3 segmentation (Chen et al. 2017): ASPP with image pooling on
    the backbone's last map (`heads.deeplab_head`, torchvision's
    `DeepLabHead`; its rates 12/24/36, which
    `deeplabv3_mobilenet_v3_large` uses at output stride 16; the paper's are
    6/12/18 at 16 and twice those at 8). Returns a functional `keras.Model`
    whose output is per-pixel logits at the input size."""
    rates = _check_rates(atrous_rates)
    backbone, maps = _backbone(backbone, input_shape, backbone_weights,
                               output_stride, backbone_arguments)
    logits = heads.deeplab_head(maps[max(maps)], classes, rates)
    return _finish(backbone, logits, name or f"deeplabv3_{backbone.name}")


@_documented(RATES)
def DeepLabV3Plus(backbone="MobileNetV3Large", classes=21, input_shape=None,
                  backbone_weights="imagenet", output_stride=16,
                  atrous_rates=(6, 12, 18), backbone_arguments=None,
                  name=None):
    """DeepLabV3+ segmentation (Chen et al. 2018): ASPP (`heads.aspp`, 256
    channels, the paper's rates 6/12/18 at output stride 16) on the last
    map, then the decoder (`heads.deeplabv3plus_decoder`) with the map at
    stride 4. Returns a functional `keras.Model` whose output is per-pixel
    logits at the input size."""
    rates = _check_rates(atrous_rates)
    backbone, maps = _backbone(backbone, input_shape, backbone_weights,
                               output_stride, backbone_arguments)
    x = heads.aspp(maps[max(maps)], rates)
    logits = heads.deeplabv3plus_decoder(x, maps[4], classes)
    return _finish(backbone, logits, name or f"deeplabv3plus_{backbone.name}")
