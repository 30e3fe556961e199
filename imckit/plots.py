"""Figures the chapters share. Each function returns a matplotlib Figure and never calls ``plt.show``."""

from __future__ import annotations

import matplotlib.pyplot as plt

from imckit.train import History


def training_curves(history: History, title: str = ""):
    """Loss and accuracy per epoch, train and test, side by side."""
    epochs = range(1, len(history.train_loss) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    ax_loss.plot(epochs, history.train_loss, "o-", label="train")
    ax_acc.plot(epochs, [100 * a for a in history.train_accuracy], "o-", label="train")
    if history.test_loss:
        ax_loss.plot(epochs, history.test_loss, "s-", label="test")
        ax_acc.plot(epochs, [100 * a for a in history.test_accuracy], "s-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def layer_weights(table, title: str = ""):
    """Bar chart of each mappable layer's weight count (a :func:`imckit.models.layer_table`)."""
    fig, ax = plt.subplots(figsize=(7, 3), constrained_layout=True)
    labels = [f"{i}\n{name}" for i, name in zip(table.index, table["name"])]
    ax.bar(labels, table["weights"], color="tab:blue")
    for x, (w, share) in enumerate(zip(table["weights"], table["share of weights (%)"])):
        ax.annotate(f"{share:.1f}%", (x, w), ha="center", va="bottom", fontsize=8)
    ax.set(ylabel="weights", yscale="log", title=title or "weights per mappable layer")
    ax.tick_params(axis="x", labelsize=7)
    return fig
