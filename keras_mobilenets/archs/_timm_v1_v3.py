"""What timm's MobileNet V1-V3 modules share: their conventions and one
registration. Their checkpoints (`checkpoints.checkpoint`) are timm 1.0.31's
`pretrained_cfgs`, with timm's published top-1."""

from .. import naming, registry
from ..spec import Arch, Conventions

# timm's networks: PyTorch BatchNorm (eps 1e-5, Keras momentum 0.9) and
# symmetric padding of every strided convolution (`get_padding`).
TIMM = Conventions(activation="relu6", bn_epsilon=1e-5, bn_momentum=0.9,
                   padding="symmetric", pad_all=True)
# timm's `tf_` ports of the TF-Slim checkpoints: TensorFlow's BatchNorm
# epsilon and 'same' padding, which for strided convs is keras.applications'
# `correct_pad` (the stem pads by its own 'same').
TF = Conventions(activation="hard_swish", bn_epsilon=1e-3, bn_momentum=0.9,
                 padding="correct")


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
        title=title, paper=paper, params=params, checkpoints=checkpoints,
        test_config=dict(alpha=test_alpha),
        timm_architectures=dict(timm_names))
