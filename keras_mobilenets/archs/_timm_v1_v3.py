"""What timm's MobileNet V1-V3 modules share: their conventions, their
checkpoints (timm 1.0.31's `pretrained_cfgs`, with timm's published top-1)
and one registration."""

import textwrap

from .. import naming, registry
from ..spec import Arch, Conventions
from ..weights import TimmCheckpoint

IMNET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INCEP = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
ZERO_ONE = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # the miil checkpoints

# timm's networks: PyTorch BatchNorm (eps 1e-5, Keras momentum 0.9) and
# symmetric padding of every strided convolution (`get_padding`).
TIMM = Conventions(activation="relu6", bn_epsilon=1e-5, bn_momentum=0.9,
                   padding="symmetric", pad_all=True)
# timm's `tf_` ports of the TF-Slim checkpoints: TensorFlow's BatchNorm
# epsilon and 'same' padding, which for strided convs is keras.applications'
# `correct_pad` (the stem pads by its own 'same').
TF = Conventions(activation="hard_swish", bn_epsilon=1e-3, bn_momentum=0.9,
                 padding="correct")


# timm's ImageNet-1k top-1 (%) of each checkpoint: results/results-imagenet.csv
# of huggingface/pytorch-image-models (commit aa4b5850c154), at the
# checkpoint's (`input_size`, `crop_pct`) and at its (`test_input_size`,
# `test_crop_pct`) where it has one. The in21k head (11221 classes) has none.
TOP1 = {
    "mobilenetv1_100.ra4_e3600_r224_in1k": (75.388, 76.088),
    "mobilenetv1_125.ra4_e3600_r224_in1k": (76.920, 77.612),
    "mobilenetv1_100h.ra4_e3600_r224_in1k": (75.664, 76.598),
    "mobilenetv2_100.ra_in1k": (72.910, None),
    "mobilenetv2_050.lamb_in1k": (65.928, None),
    "mobilenetv2_140.ra_in1k": (76.528, None),
    "mobilenetv2_110d.ra_in1k": (75.056, None),
    "mobilenetv2_120d.ra_in1k": (77.300, None),
    "mobilenetv3_large_100.ra_in1k": (75.784, None),
    "mobilenetv3_large_100.ra4_e3600_r224_in1k": (76.310, 77.182),
    "mobilenetv3_large_100.miil_in21k_ft_in1k": (77.920, None),
    "mobilenetv3_large_150d.ra4_e3600_r256_in1k": (80.994, 81.832),
    "mobilenetv3_small_100.lamb_in1k": (67.636, None),
    "mobilenetv3_small_050.lamb_in1k": (57.918, None),
    "mobilenetv3_small_075.lamb_in1k": (65.284, None),
    "mobilenetv3_rw.rmsp_in1k": (75.616, None),
    "tf_mobilenetv3_large_100.in1k": (75.510, None),
    "tf_mobilenetv3_large_075.in1k": (73.442, None),
    "tf_mobilenetv3_large_minimal_100.in1k": (72.270, None),
    "tf_mobilenetv3_small_100.in1k": (67.922, None),
    "tf_mobilenetv3_small_075.in1k": (65.706, None),
    "tf_mobilenetv3_small_minimal_100.in1k": (62.892, None),
}


def ckpt(model, tag, alpha, size, crop, test_size, test_crop, norm,
         interpolation="bicubic", default=False, classes=1000):
    """One timm checkpoint: architecture, tag, alpha, `input_size`,
    `crop_pct`, `test_input_size`, `test_crop_pct`, (mean, std),
    interpolation, whether it is timm's default tag of the architecture,
    classes of its head; its top-1 figures from `TOP1`."""
    mean, std = norm
    top1, test_top1 = TOP1.get(f"{model}.{tag}", (None, None))
    return TimmCheckpoint(model, tag, alpha, size, crop, test_size, test_crop,
                          mean, std, top1, test_top1,
                          interpolation=interpolation, default=default,
                          num_classes=classes)


def _weights_note(checkpoints):
    lines = textwrap.wrap(
        "The network is timm's (its conventions and its layer names, so its "
        "checkpoints convert mechanically). `weights` may name one of these "
        "tags (downloaded from the Hugging Face hub and converted on first "
        "use) or the path of a timm .safetensors checkpoint of this "
        "architecture. Tag: alpha, training resolution, classes.", 76)
    for c in checkpoints:
        default = " (`weights='imagenet'`)" if c.default else ""
        lines.append(f"- {c.tag!r}{default}: {c.alpha}, "
                     f"{c.input_size}x{c.input_size}, {c.num_classes} "
                     "classes.")
    return "\n".join(lines)


def entry(name, title, paper, stem, stages, top, conventions, params,
          checkpoints, timm_names, test_alpha, last_conv=None):
    """The `registry.Entry` of one timm network; `timm_names` {timm
    architecture: alpha} (the widths timm registers), the first one's alpha
    the default (the module's `def` of the builder takes it)."""
    arch = Arch(name=name, stem=stem, stages=stages, top=top,
                naming=naming.TIMM_EFFICIENTNET, conventions=conventions,
                width="divisible", preprocessing="normalize",
                last_conv=last_conv)
    alpha = next(iter(timm_names.values()))
    return registry.self_normalising_entry(
        name, arch=arch, defaults={"alpha": alpha} if alpha != 1.0 else {},
        title=title, paper=paper, weights_note=_weights_note(checkpoints),
        params=params, checkpoints=checkpoints,
        test_config=dict(alpha=test_alpha),
        timm_architectures=dict(timm_names))
