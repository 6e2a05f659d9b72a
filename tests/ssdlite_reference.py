"""The seeded inputs of the SSDLite ops fixture (numpy only), shared by
`fixture_scripts/make_ssdlite_ops_fixtures.py` and `tests/test_detection_ops.py`:
the head outputs (3.5 MB as float32) are regenerated, not stored."""

import numpy as np

IMAGE_SIZE = (320, 320)
NUM_CLASSES = 91
SEED = 0


def head_outputs(num_images, num_anchors, num_classes=NUM_CLASSES, seed=SEED):
    """Random SSD head outputs, float32: box regressions of a few anchors
    far beyond torchvision's dw/dh clip, and logits spread enough that some
    scores pass the thresholds and the order of scores is clear."""
    rng = np.random.default_rng(seed)
    bbox = rng.normal(0.0, 1.0, (num_images, num_anchors, 4))
    big = rng.random((num_images, num_anchors)) < 0.02
    bbox[..., 2][big] = 30.0  # exp(30 / 5) > 1000 / 16: clipped
    logits = rng.normal(0.0, 3.0, (num_images, num_anchors, num_classes))
    logits[..., 0] += 4.0  # background most likely, as in a trained model
    return {"bbox_regression": bbox.astype(np.float32),
            "cls_logits": logits.astype(np.float32)}
