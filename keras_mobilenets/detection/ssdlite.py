"""SSDLite (MobileNetV2 paper section 6.2, MobileNetV3 paper section 6.3) on
any MobileNet: torchvision's `ssdlite320_mobilenet_v3_large` (torchvision
0.29, models/detection/ssdlite.py) written as a functional Keras model whose
outputs are the raw box regressions and class logits per anchor."""

import functools
import os

import keras
import numpy as np
from keras import layers

from .. import blocks, builder, feature_info, features, registry, spec
from .. import layers as km_layers
from .. import weights as weights_lib
from ..model import Model

# torchvision's `norm_layer` of SSDLite: BatchNorm2d(eps=0.001,
# momentum=0.03), i.e. Keras momentum 0.97; PyTorch's symmetric padding.
STYLE = spec.Conventions(activation="relu6", bn_epsilon=1e-3,
                         bn_momentum=0.97, padding="symmetric", pad_all=True)
EXTRA_WIDTHS = (512, 256, 256, 128)  # torchvision's, at width_mult 1
ASPECT_RATIOS = ((2, 3),) * 6  # DefaultBoxGenerator([[2, 3]] * 6)
INIT_STD = 0.03  # torchvision's `_normal_init`
TORCHVISION = "TorchvisionMobileNetV3Large"


def _check(backbone, num_classes, input_shape, weights, aspect_ratios):
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) \
            or num_classes < 1:
        raise ValueError("`num_classes` must be a positive int (background "
                         f"included). Received: num_classes={num_classes!r}")
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) \
        else ()
    first = keras.config.image_data_format() == "channels_first"
    channels, sizes = (shape[:1], shape[1:]) if first else (shape[2:],
                                                             shape[:2])
    if (len(shape) != 3 or channels != (3,) or not all(
            type(d) is int and d >= 32 for d in sizes)):
        raise ValueError(
            "`input_shape` must be a fixed (rows, cols, 3) (channels_first: "
            "(3, rows, cols)) of ints >= 32: the anchors depend on the size. "
            f"Received: input_shape={input_shape!r}")
    if weights is not None:
        if isinstance(weights, os.PathLike):
            weights = os.fspath(weights)
        if not isinstance(weights, str) or not os.path.isfile(weights):
            raise ValueError(
                "`weights` must be None or the path of a weights file: a "
                "torchvision SSDLite state dict (.safetensors) or a Keras "
                f"file (.h5, .weights.h5). Received: weights={weights!r}")
    if (not isinstance(aspect_ratios, (tuple, list)) or len(aspect_ratios) != 6
            or not all(isinstance(r, (tuple, list)) for r in aspect_ratios)):
        raise ValueError(
            "`aspect_ratios` must be six sequences of ratios, one per feature "
            f"map. Received: aspect_ratios={aspect_ratios!r}")
    if not (isinstance(backbone, str) and backbone in registry.ENTRIES
            or isinstance(backbone, keras.Model)):
        raise ValueError(
            "`backbone` must be a model name (one of "
            f"{', '.join(registry.ENTRIES)}) or a keras.Model built by "
            f"keras_mobilenets. Received: backbone={backbone!r}")
    return shape, weights


def anchors_per_location(aspect_ratios=ASPECT_RATIOS):
    """Default boxes per location of each map: torchvision's
    `DefaultBoxGenerator.num_anchors_per_location` (two squares, then each
    ratio and its inverse)."""
    return [2 + 2 * len(r) for r in aspect_ratios]


def c4_layer(model):
    """The layer SSDLite taps at stride 16 (torchvision's C4,
    `feature_info.c4`), read from `model`'s record: the expansion of the
    first block that runs at stride 32, else the last stride-16 map."""
    return feature_info.c4(features.feature_info(model))


def _backbone(backbone, input_shape, backbone_weights, arguments, inputs):
    """(backbone model, whether it was built here)."""
    if isinstance(backbone, str):
        entry = registry.get(backbone)
        arguments = registry.backbone_arguments(
            arguments, ("include_top", "weights", "input_shape", "input_tensor"),
            "SSDLite")
        if backbone == TORCHVISION:
            # torchvision: "reduce_tail = weights_backbone is None".
            arguments.setdefault("reduced_tail", backbone_weights is None)
        x = inputs
        if entry.arch.preprocessing is None:  # V1, V2: scaled outside
            x = layers.Rescaling(1.0 / 127.5, offset=-1.0,
                                 name="rescaling")(inputs)
        model = entry.builder(include_top=False, weights=backbone_weights,
                              input_tensor=x, **arguments)
        return model, True
    if arguments or backbone_weights is not None:
        raise ValueError(
            "`backbone_weights` and `backbone_arguments` apply to a backbone "
            "given by name. Received: backbone_weights="
            f"{backbone_weights!r}, backbone_arguments={arguments!r}")
    if tuple(backbone.input_shape[1:]) != input_shape:
        raise ValueError(
            f"The backbone's input shape must be `input_shape` "
            f"{input_shape}. Received: backbone input shape "
            f"{tuple(backbone.input_shape[1:])}")
    return backbone, False


def _conv_bn_act(x, filters, kernel_size, stride, prefix, depthwise=False):
    """torchvision's `Conv2dNormActivation` (conv without bias, BatchNorm,
    ReLU6), its modules 0, 1, 2 named `<prefix>_0`... ."""
    return blocks.conv_bn(x, filters, kernel_size, stride, "relu6",
                          lambda role: f"{prefix}_{role}", STYLE,
                          ("0", "1", "2"), depthwise=depthwise)


def extra_block(x, filters, prefix):
    """torchvision's `_extra_block`: 1x1 to half `filters`, depthwise 3x3
    stride 2 (padding 1), 1x1 to `filters`, each with BatchNorm and ReLU6."""
    x = _conv_bn_act(x, filters // 2, 1, 1, f"{prefix}_0")
    x = _conv_bn_act(x, None, 3, 2, f"{prefix}_1", depthwise=True)
    return _conv_bn_act(x, filters, 1, 1, f"{prefix}_2")


def prediction_block(x, filters, prefix):
    """torchvision's `_prediction_block`: depthwise 3x3 with BatchNorm and
    ReLU6, then a 1x1 conv with bias to `filters`."""
    x = _conv_bn_act(x, None, 3, 1, f"{prefix}_0", depthwise=True)
    return km_layers.Conv2D(filters, 1, name=f"{prefix}_1")(x)


def _per_anchor(x, values, name):
    """(batch, rows, cols, anchors * values) -> (batch, rows * cols *
    anchors, values): torchvision's `SSDScoringHead._get_result_from_module_list`
    order (y, x, then anchor)."""
    if keras.config.image_data_format() == "channels_first":
        x = layers.Permute((2, 3, 1), name=f"{name}_nhwc")(x)
    return layers.Reshape((-1, values), name=name)(x)


def _normal_init(model, names):
    """torchvision's `_normal_init` of the layers `names`: conv kernels
    drawn from N(0, 0.03), biases 0."""
    for name in names:
        layer = model.get_layer(name)
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            # NumPy's global generator (which keras.utils.set_random_seed
            # seeds): keras.random would compile a program per shape on JAX.
            kernel = layer.kernel
            kernel.assign(np.random.normal(0.0, INIT_STD, tuple(kernel.shape))
                          .astype(kernel.dtype))
            if layer.bias is not None:
                layer.bias.assign(np.zeros(tuple(layer.bias.shape), layer.bias.dtype))


def SSDLite(backbone="TorchvisionMobileNetV3Large", num_classes=91,
            input_shape=(320, 320, 3), weights=None, backbone_weights=None,
            backbone_arguments=None, aspect_ratios=ASPECT_RATIOS, name=None):
    """SSDLite on a MobileNet: torchvision's `ssdlite320_mobilenet_v3_large`
    on any backbone of this package.

    The backbone is tapped at two maps (torchvision's C4 and C5, `c4_layer`):
    the expansion of the first stride-32 block (stride 16) and the last map
    (stride 32); four extra blocks (`extra_block`, 512, 256, 256, 128
    channels) halve the resolution each, and on each of the six maps a
    classification and a regression head (`prediction_block`) predict per
    default box. With `TorchvisionMobileNetV3Large` and its reduced tail,
    this is torchvision's network, layer for layer (3,440,060 trainable
    parameters at 91 classes), and `weights` may be torchvision's state
    dict (`keras-mobilenets convert torchvision`, or a .safetensors of it).

    Args:
        backbone: A registry name (`keras_mobilenets.registry.ENTRIES`, any
            generation V1-V4) or a model built by this package without its
            top at `input_shape` (output stride 32).
        num_classes: Classes, background (class 0) included: 91 for COCO,
            as torchvision.
        input_shape: Fixed shape of the images, `(rows, cols, 3)`.
        weights: None, or the path of the whole detector's weights: a
            torchvision SSDLite state dict saved as .safetensors (on
            `TorchvisionMobileNetV3Large`), or a Keras .weights.h5 or .h5
            file of this model. Loading is strict.
        backbone_weights: `weights` of the backbone builder (ImageNet
            weights for the backbone by name); None as torchvision without
            `weights_backbone`: the backbone is then initialised as
            torchvision's (`_normal_init`), and `TorchvisionMobileNetV3Large`
            gets its reduced tail (torchvision's `reduced_tail=True`, also
            that of its COCO weights) unless `backbone_arguments` say.
        backbone_arguments: Other arguments of the backbone builder (e.g.
            `{"alpha": 0.75}`).
        aspect_ratios: Six sequences of aspect ratios of the default boxes
            (torchvision's `[[2, 3]] * 6`); each map predicts 2 + 2 * len
            boxes per location.
        name: Name of the model.

    Returns:
        A `keras_mobilenets.Model` taking pixels in [0, 255] (the backbone,
        or a Rescaling layer in front of V1 and V2, scales them to
        [-1, 1]) whose output is a dict: "bbox_regression" (batch, anchors,
        4) and "cls_logits" (batch, anchors, num_classes), anchors in
        torchvision's order (map by map, then row, column, box): 3234 at
        320 x 320.

    Raises:
        ValueError: an argument out of range, or weights that do not fit.
    """
    input_shape, weights = _check(backbone, num_classes, input_shape,
                                  weights, aspect_ratios)
    inputs = layers.Input(shape=input_shape) if isinstance(backbone, str) \
        else None
    model, built_here = _backbone(
        backbone, input_shape, backbone_weights, backbone_arguments, inputs)
    taps = features.feature_layers(model)
    if 32 not in taps:
        raise ValueError("SSDLite needs the backbone's map at stride 32: "
                         "build it with output_stride=32. Received: "
                         f"output_stride={max(taps)}")
    if built_here:
        for layer in model.layers:  # torchvision's norm_layer
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = STYLE.bn_momentum
    maps = [model.get_layer(c4_layer(model)).output,
            model.get_layer(taps[32]).output]
    x = maps[-1]
    for b, width in enumerate(EXTRA_WIDTHS):
        x = extra_block(x, width, f"extra_{b}")
        maps.append(x)
    boxes = anchors_per_location(aspect_ratios)
    outputs = {}
    for key, head, values in (
            ("bbox_regression", "regression_head", 4),
            ("cls_logits", "classification_head", num_classes)):
        per_map = [
            _per_anchor(prediction_block(
                m, values * k, f"head_{head}_module_list_{i}"),
                values, f"head_{head}_{i}_per_anchor")
            for i, (m, k) in enumerate(zip(maps, boxes))]
        outputs[key] = layers.Concatenate(axis=1, name=key)(per_map)
    detector = Model(model.inputs[0], outputs,
                     name=name or f"ssdlite_{model.name}", taps=taps,
                     feature_info=features.feature_info(model))
    if weights is not None:
        load_weights(detector, weights)
    else:
        new = [l.name for l in detector.layers
               if l.name.startswith(("extra_", "head_"))]
        backbone_layers = [l.name for l in model.layers] \
            if built_here and backbone_weights is None else []
        _normal_init(detector, new + backbone_layers)
    return detector


def pretrained(name):
    """What `weights.resolve` reads of the detector `name`: no checkpoint;
    a path it names is a torchvision state dict or a Keras file
    (`weights.SSDLiteFile`)."""
    stem = registry.get(TORCHVISION).arch.naming.fixed["stem_conv"]
    return weights_lib.Pretrained(name=name, file_source=functools.partial(
        weights_lib.SSDLiteFile, backbone=TORCHVISION, stem=stem))


def load_weights(model, path):
    """Loads `path` into the SSDLite `model`, all or nothing, through
    `weights.resolve` as every model's weights: a torchvision state dict
    (.safetensors, by torchvision's module names) or a Keras weights file."""
    shape = tuple(model.input_shape[1:])
    opts = builder.Options(weights=os.fspath(path), input_shape=shape,
                           shape=shape)
    resolved = weights_lib.resolve(pretrained(model.name), opts)
    weights_lib.load(model, resolved.source)
