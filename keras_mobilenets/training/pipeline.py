"""The `tf.data` input pipeline of `train`: files decoded in parallel,
cached decoded where they fit in memory, timm's train transform per image,
the eval resize and centre crop for validation, batches prefetched. Runs
under every backend (Keras' layers work inside `tf.data`)."""

import math
import os

import numpy as np

CACHE_BYTES = 256 * 2**20  # the files' size under which decoded images are cached


def _tf():
    try:
        import tensorflow as tf
    except ImportError:
        raise ValueError("`train` reads images with tf.data, on every "
                         "backend: `pip install tensorflow-cpu`.") from None
    return tf


def _decode(path):
    tf = _tf()
    image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                               expand_animations=False)
    return tf.ensure_shape(image, (None, None, 3))


def eval_resize(config, size):
    """A tf function: a uint8 image -> float32 (size, size, 3), as
    `data.EvalTransform`'s resize then centre crop (TensorFlow's antialiased
    resize, not PIL's: within a few grey levels)."""
    tf = _tf()
    scale = math.floor(size / config["crop_pct"])
    method = {"bicubic": "bicubic", "bilinear": "bilinear"}.get(
        config["interpolation"], "bilinear")

    def resize(image):
        shape = tf.cast(tf.shape(image)[:2], "float32")
        if config["crop_mode"] == "squash":
            new = tf.constant([scale, scale])
        else:
            new = tf.cast(tf.math.floor(shape / tf.reduce_min(shape) * scale),
                          "int32")
            new = tf.maximum(new, scale)
        image = tf.image.resize(tf.cast(image, "float32"), new, method=method,
                                antialias=True)
        top = (tf.shape(image)[0] - size) // 2
        left = (tf.shape(image)[1] - size) // 2
        image = image[top:top + size, left:left + size]
        return tf.ensure_shape(tf.clip_by_value(image, 0, 255),
                               (size, size, 3))

    return resize


def should_cache(paths, cache):
    """`cache` "auto": True where the files add up to under CACHE_BYTES."""
    if cache != "auto":
        return bool(cache)
    return sum(os.path.getsize(p) for p in paths) < CACHE_BYTES


def dataset(items, classes, batch_size, transform, shuffle=False, seed=0,
            cache=False, drop_remainder=False):
    """A `tf.data.Dataset` of (float32 images, one-hot labels) batches of
    `items` [(path, class index)]; `transform` maps one decoded uint8 image.
    Images are decoded (and cached) before the transform, so a cached epoch
    still draws new crops."""
    tf = _tf()
    paths = [p for p, _ in items]
    labels = np.array([c for _, c in items], "int32")
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    autotune = tf.data.AUTOTUNE
    # Named functions, not lambdas: AutoGraph reads their source.
    def load(path, label):
        return _decode(path), label

    def prepare(image, label):
        return transform(image), tf.one_hot(label, classes)

    ds = ds.map(load, num_parallel_calls=autotune, deterministic=True)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(len(items), 10000), seed=seed,
                        reshuffle_each_iteration=True)
    ds = ds.map(prepare, num_parallel_calls=autotune,
                deterministic=not shuffle)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(
        autotune)
