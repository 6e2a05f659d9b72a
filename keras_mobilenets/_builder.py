"""The one builder: turns a generation's spec and the user's arguments into a
functional `keras.Model`, and loads its weights."""

import dataclasses
import typing
import warnings

import keras
from keras import layers

from . import _args
from . import weights as weights_lib


@dataclasses.dataclass(frozen=True)
class Style:
    """Conventions that differ between generations (see each generation's module)."""

    bn_epsilon: float
    bn_momentum: float
    pad_mode: str  # explicit padding before strided depthwise convs
    names: typing.Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Generation:
    """What the builder needs to know about one generation.

    body(x, cfg) builds stem, blocks and last conv; top(x, cfg) the classifier;
    weight_file(cfg, rows) the registry entry of the ImageNet weights.
    """

    name: str
    default_size: typing.Optional[int]  # input size when none is given with a top
    weight_sizes: typing.Callable  # cfg -> square input sizes with ImageNet weights
    weight_alphas: typing.Callable  # cfg -> allowed alphas with ImageNet weights
    body: typing.Callable
    top: typing.Callable
    model_name: typing.Callable  # (cfg, rows) -> default model name
    pool_names: tuple = (None, None)  # names of the avg / max pooling layers
    preprocessing: typing.Callable = None  # (x, cfg) -> x, when included
    weight_file: typing.Callable = None  # unused when `load_weights` is set
    weight_tags: tuple = ()  # checkpoint tags `weights` may name (V4)
    # (model, cfg, kind, weights) -> None, loading "imagenet", a tag or a path;
    # None: the .h5 file of `weight_file`, or the path, by `weights.load_weights`.
    load_weights: typing.Callable = None


@dataclasses.dataclass(frozen=True)
class Config:
    """The user's arguments after validation, as the spec functions see them."""

    alpha: float
    include_top: bool
    classes: int
    classifier_activation: object
    pooling: typing.Optional[str]
    extra: typing.Mapping[str, object]  # generation-specific arguments
    weights: typing.Optional[str] = None  # "imagenet", a tag, a path or None

    def __getattr__(self, name):
        try:
            return self.extra[name]
        except KeyError:
            raise AttributeError(name) from None


def build(
    generation,
    *,
    input_shape,
    alpha,
    include_top,
    weights,
    input_tensor,
    pooling,
    classes,
    classifier_activation,
    name,
    **extra,
):
    _args.check_bool("include_top", include_top)
    kind, weights = _args.check_weights(weights, generation.weight_tags)
    alpha = _args.check_number("alpha", alpha)
    classes = _args.check_int("classes", classes)
    _args.check_pooling(pooling)
    pretrained = kind != "none"
    if include_top:
        _args.check_activation(classifier_activation, pretrained)
    imagenet = kind in ("imagenet", "tag")
    if imagenet and include_top and classes != 1000:
        raise ValueError(
            f"With `weights={weights!r}` and `include_top=True`, `classes` must "
            f"be 1000. Received: classes={classes}"
        )
    cfg = Config(alpha, include_top, classes, classifier_activation, pooling,
                 extra, weights)
    if imagenet:
        allowed = generation.weight_alphas(cfg)
        if alpha not in allowed:
            raise ValueError(
                f"{generation.name} has ImageNet weights for alpha in "
                f"{sorted(allowed)} with these arguments. Received: "
                f"alpha={alpha}"
                + (f", minimalistic={cfg.extra['minimalistic']}"
                   if "minimalistic" in cfg.extra else "")
                + (f", weights={weights!r}" if kind == "tag" else "")
            )

    sizes = tuple(generation.weight_sizes(cfg))
    default_size = generation.default_size
    if input_shape is not None and generation.default_size is not None:
        _, row_axis, col_axis = _args.data_format_axes()
        if (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
                and input_shape[row_axis] == input_shape[col_axis]
                and input_shape[row_axis] in sizes):
            default_size = input_shape[row_axis]
    shape = _args.resolve_input_shape(
        input_shape, input_tensor, default_size, min_size=32,
        include_top=include_top, pretrained=pretrained,
    )
    _, row_axis, col_axis = _args.data_format_axes()
    rows, cols = shape[row_axis], shape[col_axis]
    if imagenet:
        # Generations with a default size (V1, V2) take only the trained sizes
        # under their pretrained top, as keras.applications does.
        if (include_top and generation.default_size is not None
                and (rows != cols or rows not in sizes)):
            raise ValueError(
                f"With `weights='imagenet'` and `include_top=True`, "
                f"{generation.name} takes square inputs of size "
                f"{list(sizes)}. Received: "
                f"input_shape={input_shape}"
            )
        if rows != cols or rows not in sizes:
            if input_shape is not None or input_tensor is not None:
                warnings.warn(
                    f"There are no ImageNet weights of {generation.name} for "
                    f"input size {rows}x{cols}; loading those for "
                    f"{sizes[-1]}x{sizes[-1]}.",
                    stacklevel=3,
                )
            rows = sizes[-1]

    if input_tensor is None:
        inputs = img_input = layers.Input(shape=shape)
    elif keras.backend.is_keras_tensor(input_tensor):
        img_input = input_tensor
        inputs = keras.utils.get_source_inputs(input_tensor)
    else:
        inputs = img_input = layers.Input(tensor=input_tensor, shape=shape)

    x = img_input
    if generation.preprocessing is not None and cfg.extra.get(
        "include_preprocessing", False
    ):
        x = generation.preprocessing(x, cfg)
    x = generation.body(x, cfg)
    if include_top:
        x = generation.top(x, cfg)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name=generation.pool_names[0])(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name=generation.pool_names[1])(x)
    if name is None:
        name = generation.model_name(cfg, rows)
    model = keras.Model(inputs, x, name=name)

    if kind != "none" and generation.load_weights is not None:
        generation.load_weights(model, cfg, kind, weights)
    elif kind == "imagenet":
        entry = generation.weight_file(cfg, rows)
        weights_lib.load_weights(model, weights_lib.fetch(entry))
    elif kind == "path":
        weights_lib.load_weights(model, weights)
    return model
