"""One docstring template for every public builder."""

TEMPLATE = """Instantiates the {title} architecture ({paper}).

    Returns a functional `keras.Model`, optionally with weights pre-trained on
    ImageNet. {weights_note}

    Inputs: images with pixels in [0, 255] through {preprocessing}.

    Args:
        input_shape: Shape without batch, `(rows, cols, 3)` (channels last) or
            `(3, rows, cols)`; rows and cols may be None, else at least 32.
            Ignored when `input_tensor` is given.
        alpha: Width multiplier: scales the number of filters of every layer.{extra_args}
        include_top: Whether to include the classifier. Defaults to True.
        weights: None (random initialization), "imagenet" (download the
            ImageNet weights into the Keras cache), or the path of a weights
            file (.h5 or .weights.h5) to load. Loading is strict: a file that
            does not fit the model raises a ValueError naming what does not fit.
        input_tensor: Optional Keras tensor (output of `keras.Input()`) to use
            as the model's input.
        pooling: Without the top: None (4D feature map), "avg" or "max"
            (global pooling to a 2D tensor).
        classes: Number of classes of the top; 1000 with ImageNet weights.
        classifier_activation: Activation of the top (a name or callable);
            None returns logits. With pretrained weights: None or "softmax".
        name: Name of the model.

    Returns:
        A `keras.Model`.
    """


def builder_doc(title, paper, extra_args="", preprocessing="", weights_note=""):
    return TEMPLATE.format(
        title=title, paper=paper, extra_args=extra_args,
        preprocessing=preprocessing, weights_note=weights_note,
    )
