"""What `train` writes beside the model: history.csv, report.md and the
figures (confusion.png, curves.png, errors.png), drawn with matplotlib."""

import csv
import os

import numpy as np

HISTORY_KEYS = ("epoch", "stage", "learning_rate", "loss", "accuracy",
                "val_loss", "val_accuracy", "seconds", "images_per_second")


def write_history(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, HISTORY_KEYS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def confusion(truth, predicted, classes):
    """(classes, classes) counts: row the true class, column the predicted."""
    matrix = np.zeros((classes, classes), int)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def per_class(matrix):
    """[(precision, recall, images)] per class (precision NaN where the
    class was never predicted)."""
    predicted = matrix.sum(0)
    actual = matrix.sum(1)
    diagonal = np.diag(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        return list(zip(diagonal / predicted, diagonal / actual, actual))


def require_matplotlib():
    """A clear error before training where the figures cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError("`train` draws its figures with matplotlib: `pip "
                         "install matplotlib`.") from None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(path, matrix, names):
    plt = _pyplot()
    side = max(4, 0.5 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(matrix, cmap="Blues")
    if len(names) <= 30:
        for (i, j), n in np.ndenumerate(matrix):
            ax.text(j, i, n, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(path, rows, unfrozen_at):
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = [r["epoch"] for r in rows]
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [r[metric] for r in rows], "o-",
                label="train (augmented)")
        ax.plot(epochs, [r["val_" + metric] for r in rows], "o-",
                label="validation")
        if unfrozen_at is not None and unfrozen_at < len(rows):
            ax.axvline(unfrozen_at + 0.5, color="gray", linestyle=":",
                       label="backbone unfrozen")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_errors(path, images, truth, predicted, scores, names, count=16):
    """The `count` misclassified images with the lowest score of their true
    class, titled "true -> predicted"."""
    plt = _pyplot()
    wrong = np.flatnonzero(truth != predicted)
    wrong = wrong[np.argsort(scores[wrong, truth[wrong]], kind="stable")][:count]
    cols = 4
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.5 * cols, 2.7 * rows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(np.clip(images[i], 0, 255).astype("uint8"))
        ax.set_title(f"{names[truth[i]]} -> {names[predicted[i]]}\n"
                     f"p(true) {scores[i, truth[i]]:.2f}", fontsize=8)
    if not len(wrong):
        axes[0, 0].text(0, 0.5, "no misclassified validation image")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(settings, names, split, matrix, rows, timing, skipped, extra=()):
    """report.md's text."""
    accuracy = np.trace(matrix) / max(1, matrix.sum())
    lines = ["# Training report", "",
             f"{split} accuracy: **{accuracy:.2%}** ({int(np.trace(matrix))}"
             f" of {int(matrix.sum())} images), best epoch "
             f"{timing['best_epoch']} of {len(rows)} (by validation "
             "accuracy).", ""]
    lines += [f"- {line}" for line in extra]
    lines += [f"- time: {timing['seconds']:.0f} s in all, "
              f"{timing['train_seconds']:.0f} s training; "
              f"{timing['images_per_second']:.1f} training images/s "
              "(epochs after the first of each stage, which compiles)",
              f"- input pipeline alone: {timing['pipeline_images_per_second']:.1f} "
              "images/s (decoding and augmenting, first batches, before the "
              "cache fills)",
              f"- files skipped: {len(skipped)} (no image suffix, or no "
              "image tf.data decodes)"
              + (": " + ", ".join(os.path.basename(s) for s in skipped[:10])
                 if skipped else ""), ""]
    lines += ["## Per class", "", "| class | precision | recall | images |",
              "|---|---:|---:|---:|"]
    for name, (p, r, n) in zip(names, per_class(matrix)):
        shown = "-" if np.isnan(p) else f"{p:.2%}"  # never predicted
        lines.append(f"| {name} | {shown} | {r:.2%} | {n} |")
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in settings.items()]
    lines += ["", "## Epochs", "",
              "| epoch | stage | loss | accuracy | val_loss | val_accuracy | s |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['epoch']} | {r['stage']} | {r['loss']:.4f} | "
                     f"{r['accuracy']:.2%} | {r['val_loss']:.4f} | "
                     f"{r['val_accuracy']:.2%} | {r['seconds']:.1f} |")
    lines += ["", "![curves](curves.png)", "", "![confusion](confusion.png)",
              "", "![errors](errors.png)", ""]
    return "\n".join(lines)
