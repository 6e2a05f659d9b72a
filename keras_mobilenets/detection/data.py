"""Detection training data: a `tf.data` pipeline from images, boxes and labels
to batches of (images, y_true) for `ssd_loss`, through Keras' box-aware
preprocessing layers, and the default boxes of a built SSDLite."""

import keras
import numpy as np

from .. import arguments
from .anchors import _pair, default_boxes, ssdlite_feature_sizes
from .targets import encode_targets

FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy",
           "rel_yxyx", "rel_xywh", "rel_center_xywh")


def _image_size(model):
    """(rows, cols) of a model's fixed input."""
    shape = tuple(model.input_shape[1:])
    if keras.config.image_data_format() == "channels_first":
        shape = shape[1:] + shape[:1]
    if len(shape) != 3 or None in shape[:2]:
        raise ValueError("The model must take images of a fixed size. "
                         f"Received: input_shape={model.input_shape}")
    return shape[:2]


def anchors_for(model):
    """The default boxes `(A, 4)` (`xyxy`, input pixels) an SSDLite model
    predicts for: `default_boxes` at its input size and feature maps with
    torchvision's aspect ratios; checked against the model's anchor count."""
    if not isinstance(model, keras.Model):
        raise TypeError("`model` must be an SSDLite keras.Model. Received: "
                        f"model={model!r} of type {type(model).__name__}")
    image_size = _image_size(model)
    anchors = default_boxes(image_size, ssdlite_feature_sizes(image_size))
    try:
        outputs = model.output
    except AttributeError:  # a model never called
        outputs = None
    count = outputs["cls_logits"].shape[1] if isinstance(outputs, dict) and (
        "cls_logits" in outputs) else None
    if count != len(anchors):
        raise ValueError(
            "`model` must be an SSDLite with torchvision's aspect ratios "
            f"(outputs 'bbox_regression' and 'cls_logits' per anchor, "
            f"{len(anchors)} anchors at {image_size}). Received: "
            f"outputs={outputs}")
    return anchors


def _format(bounding_box_format):
    if bounding_box_format not in FORMATS:
        raise ValueError(f"`bounding_box_format` must be one of {FORMATS}. "
                         f"Received: bounding_box_format={bounding_box_format!r}")
    return bounding_box_format


def examples(images, boxes, labels, bounding_box_format="xyxy"):
    """A `tf.data.Dataset` of single examples in Keras' detection layout,
    `{"images": (rows, cols, 3) float32, "bounding_boxes": {"boxes": (N, 4)
    float32, "labels": (N,) int32}}`, the input of `training_dataset`.

    Args:
        images: a list of image files (read with PIL, as RGB) or of arrays
            `(rows, cols, 3)` with pixels in [0, 255]; sizes may differ.
        boxes: per image, `(N, 4)` boxes in `bounding_box_format` (pixels
            of that image, or relative for the `rel_` formats); N may be 0.
        labels: per image, `(N,)` class ids from 1 (0 is the background).
    """
    import tensorflow as tf
    from PIL import Image

    bounding_box_format = _format(bounding_box_format)
    if not (len(images) == len(boxes) == len(labels)):
        raise ValueError(
            "`images`, `boxes` and `labels` must have one entry per image. "
            f"Received: {len(images)} images, {len(boxes)} boxes, "
            f"{len(labels)} labels")
    checked = []
    for i, (b, l) in enumerate(zip(boxes, labels)):
        b = np.asarray(b, np.float32).reshape(-1, 4) if np.size(b) == 0 \
            else np.asarray(b, np.float32)
        l = np.asarray(l).reshape(-1)
        if b.ndim != 2 or b.shape[1] != 4 or len(l) != len(b):
            raise ValueError(
                f"Image {i}: `boxes` must be (N, 4) and `labels` (N,). "
                f"Received: boxes.shape={b.shape}, labels.shape={l.shape}")
        checked.append((b, l.astype(np.int32)))

    def generate():
        for image, (b, l) in zip(images, checked):
            if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
                with Image.open(image) as f:
                    image = np.asarray(f.convert("RGB"))
            yield {"images": np.asarray(image, np.float32),
                   "bounding_boxes": {"boxes": b, "labels": l}}

    return tf.data.Dataset.from_generator(generate, output_signature={
        "images": tf.TensorSpec((None, None, 3), tf.float32),
        "bounding_boxes": {"boxes": tf.TensorSpec((None, 4), tf.float32),
                           "labels": tf.TensorSpec((None,), tf.int32)}})


def default_augmentation(bounding_box_format="xyxy", seed=None):
    """Keras' box-aware augmentation layers, a light version of
    torchvision's SSDLite recipe: horizontal flip, zoom in and out (the
    uncovered border black), colour jitter. On channels-last images, as
    the pipeline's."""
    fmt = _format(bounding_box_format)
    layers = keras.layers
    last = "channels_last"
    return [
        layers.RandomFlip("horizontal", bounding_box_format=fmt, seed=seed,
                          data_format=last),
        layers.RandomZoom((-0.3, 0.3), fill_mode="constant",
                          bounding_box_format=fmt, seed=seed,
                          data_format=last),
        layers.RandomColorJitter(
            value_range=(0, 255), brightness_factor=0.2, contrast_factor=0.2,
            saturation_factor=0.2, hue_factor=0.05,
            bounding_box_format=fmt, seed=seed, data_format=last),
    ]


def encode_batch(boxes, labels, anchors, image_size,
                 bounding_box_format="xyxy", iou_threshold=0.5):
    """`encode_targets` of each image of a padded batch (NumPy): `(B, N, 4)`
    boxes in `bounding_box_format`, `(B, N)` labels; rows labelled -1 and
    boxes left without area (clipped away) are left out. Returns
    `((B, A, 5) float32, (B, A) int32)`."""
    rows, cols = image_size
    boxes = np.asarray(boxes, np.float32)
    if bounding_box_format != "xyxy":
        boxes = keras.ops.convert_to_numpy(
            keras.utils.bounding_boxes.convert_format(
                boxes, bounding_box_format, "xyxy", height=rows, width=cols))
    boxes = np.clip(boxes, 0.0, np.array([cols, rows, cols, rows], np.float32))
    labels = np.asarray(labels)
    regression, classes = [], []
    for b, l in zip(boxes, labels):
        keep = (l != -1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        y = encode_targets(b[keep], l[keep], anchors, iou_threshold)
        regression.append(y["bbox_regression"])
        classes.append(y["cls_logits"])
    return np.stack(regression), np.stack(classes)


def training_dataset(examples, anchors, image_size, batch_size=8,
                     bounding_box_format="xyxy", augmentation=None,
                     shuffle=None, seed=None, iou_threshold=0.5):
    """Batches of `(images, y_true)` for `model.fit` with `ssd_loss()`.

    Each example is resized to `image_size` (`keras.layers.Resizing`, boxes
    along), batched with its boxes padded (label -1), augmented on the batch
    by Keras' box-aware layers, and encoded against `anchors` by
    `encode_targets` (through `tf.numpy_function`).

    Args:
        examples: a `tf.data.Dataset` of single examples in Keras' layout
            (`examples()` makes one; a TFDS set mapped to it works too).
        anchors: `(A, 4)` default boxes of the model (`anchors_for(model)`).
        image_size: `(rows, cols)` of the model's input.
        batch_size: examples per batch.
        bounding_box_format: the format of the examples' boxes, kept through
            resizing and augmentation (the `rel_` formats need no resizing of
            the boxes).
        augmentation: None for `default_augmentation`, or a list of Keras
            image preprocessing layers built with the same
            `bounding_box_format` and `data_format="channels_last"` (the
            pipeline's images are channels-last until the end); empty: none,
            for evaluation.
        shuffle: a shuffle buffer size, or None for none.
        seed: the seed of the shuffle and of the default augmentation.

    Returns:
        A `tf.data.Dataset` of `(images (B, rows, cols, 3) float32 in
        [0, 255] (channels_first: (B, 3, rows, cols)), {"bbox_regression":
        (B, A, 5), "cls_logits": (B, A)})`.
    """
    import tensorflow as tf

    rows, cols = _pair("image_size", image_size)
    anchors = np.asarray(anchors, np.float32)
    if anchors.ndim != 2 or anchors.shape[1] != 4:
        raise ValueError("`anchors` must be (A, 4) xyxy. "
                         f"Received: anchors.shape={anchors.shape}")
    batch_size = arguments.integer()("batch_size", batch_size)
    fmt = _format(bounding_box_format)
    if augmentation is None:
        augmentation = default_augmentation(fmt, seed)
    for layer in augmentation:
        if getattr(layer, "bounding_box_format", None) != fmt:
            raise ValueError(
                "Every augmentation layer must be built with "
                f"bounding_box_format={fmt!r}. Received: {layer.name} with "
                f"{getattr(layer, 'bounding_box_format', None)!r}")
    resize = keras.layers.Resizing(rows, cols, bounding_box_format=fmt,
                                   data_format="channels_last")

    def resized(example):
        example = resize(example)
        boxes = example["bounding_boxes"]
        return {"images": example["images"], "bounding_boxes": {
            "boxes": tf.cast(boxes["boxes"], tf.float32),
            "labels": tf.cast(boxes["labels"], tf.int32)}}

    def encode(batch):
        for layer in augmentation:
            batch = layer(batch)
        boxes = batch["bounding_boxes"]

        def targets(b, l):
            return encode_batch(b, l, anchors, (rows, cols), fmt,
                                iou_threshold)

        regression, classes = tf.numpy_function(
            targets, [boxes["boxes"], boxes["labels"]],
            [tf.float32, tf.int32])
        regression.set_shape((None, len(anchors), 5))
        classes.set_shape((None, len(anchors)))
        images = tf.ensure_shape(tf.cast(batch["images"], tf.float32),
                                 (None, rows, cols, 3))
        if keras.config.image_data_format() == "channels_first":
            images = tf.transpose(images, (0, 3, 1, 2))
        return images, {"bbox_regression": regression, "cls_logits": classes}

    ds = examples
    if shuffle:
        ds = ds.shuffle(shuffle, seed=seed)
    ds = ds.map(resized).padded_batch(batch_size, padding_values={
        "images": 0.0, "bounding_boxes": {"boxes": 0.0, "labels": -1}})
    return ds.map(encode).prefetch(tf.data.AUTOTUNE)
