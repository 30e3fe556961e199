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


def campaign_currents(campaign):
    """Box plots of read current per target state with the read thresholds (the paper's Fig. 2b)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    written = campaign.written.flatten().numpy()
    currents = campaign.currents.flatten().numpy()
    ax.boxplot([currents[written == s] for s in range(4)], whis=(0.5, 99.5), showfliers=True,
               flierprops={"markersize": 2, "alpha": 0.5})
    ax.set_xticks(range(1, 5), [f"state {s}\n({s:02b})" for s in range(4)])
    for t in campaign.device.read_thresholds().numpy():
        ax.axhline(10.0**t, color="tab:red", lw=0.8, ls="--")
    ax.set(yscale="log", ylabel="read current (A)", xlabel="target state",
           title=f"{len(currents)} FeFETs, read thresholds dashed")
    ax.grid(alpha=0.3, axis="y")
    return fig


def campaign_error_map(campaign, columns: int = 5):
    """Every array's cells coloured by read minus target state (the paper's Fig. 2c BER map)."""
    import numpy as np

    arrays, rows, cols = campaign.written.shape
    grid_rows = -(-arrays // columns)
    canvas = np.full((grid_rows * (rows + 1) - 1, columns * (cols + 1) - 1), np.nan)
    distance = (campaign.read - campaign.written).numpy()
    for a in range(arrays):
        r, c = divmod(a, columns)
        canvas[r * (rows + 1): r * (rows + 1) + rows, c * (cols + 1): c * (cols + 1) + cols] = distance[a]
    limit = max(1, int(np.abs(distance).max()))
    fig, ax = plt.subplots(figsize=(6, 6.5), constrained_layout=True)
    image = ax.imshow(canvas, cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{arrays} arrays of {rows} x {cols} FeFETs: read - target state")
    fig.colorbar(image, ax=ax, ticks=range(-limit, limit + 1), shrink=0.6, label="distance from target (states)")
    return fig


def transition_heatmaps(matrices: dict, title: str = ""):
    """Side-by-side heat maps of 4x4 transition matrices P(read | written), in percent."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.6 * len(matrices), 3.4), constrained_layout=True,
                             squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices.items()):
        m = 100 * matrix.numpy()
        ax.imshow(m, cmap="magma_r", vmin=0, vmax=100)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > 50 else "black")
        ax.set(xticks=range(m.shape[1]), yticks=range(m.shape[0]), xlabel="read state", ylabel="written state",
               title=name)
    if title:
        fig.suptitle(title)
    return fig


def quantizer_curves(curves: dict, x):
    """Quantized value against input for several quantizers (``curves``: label -> output tensor)."""
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    ax.plot(x, x, color="0.7", lw=1, label="identity")
    for label, y in curves.items():
        ax.step(x, y, where="mid", lw=1.2, label=label)
    ax.set(xlabel="input x", ylabel="quantized_bits(x)", title="QKeras quantized_bits, integer=0, alpha=None")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def code_error_histogram(clean, perturbed, title: str = ""):
    """Left: histogram of integer codes without and with read errors. Right: histogram of the change."""
    import numpy as np

    clean = clean.flatten().numpy()
    perturbed = perturbed.flatten().numpy()
    fig, (ax_codes, ax_delta) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    low, high = min(clean.min(), perturbed.min()), max(clean.max(), perturbed.max())
    bins = np.arange(low - 0.5, high + 1.5)
    ax_codes.hist(clean, bins=bins, alpha=0.6, label="error-free", color="tab:blue")
    ax_codes.hist(perturbed, bins=bins, histtype="step", lw=1.0, label="read back with errors", color="tab:red")
    ax_codes.set(yscale="log", xlabel="integer code", ylabel="weights", title=title)
    ax_codes.legend(fontsize=8)
    delta = perturbed - clean
    moved = delta[delta != 0]
    values, counts = np.unique(moved, return_counts=True)
    ax_delta.bar([str(v) for v in values], counts, color="tab:red")
    ax_delta.set(yscale="log", xlabel="code change of the weights that moved", ylabel="weights",
                 title=f"{len(moved):,} of {len(delta):,} weights moved")
    ax_delta.tick_params(axis="x", labelsize=7, rotation=90)
    return fig


def sensitivity_heatmap(table, values: str = "loss_change", title: str = ""):
    """Heat map of a sensitivity table (rows: layers, columns: configurations), symmetric-log colours."""
    import numpy as np
    from matplotlib.colors import SymLogNorm

    data = getattr(table, values)
    fig, ax = plt.subplots(figsize=(9, 4), constrained_layout=True)
    limit = max(1.0, float(np.nanmax(np.abs(data))))
    image = ax.imshow(np.ma.masked_invalid(data), cmap="RdBu_r", norm=SymLogNorm(1.0, vmin=-limit, vmax=limit))
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            text = "-" if np.isnan(data[i, j]) else f"{data[i, j]:.1f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(table.configs)), [f"{j}\n{c.label}" for j, c in enumerate(table.configs)], fontsize=7)
    ax.set_yticks(range(len(table.layers)), [f"{i + 1} {n}" for i, n in enumerate(table.layers)], fontsize=8)
    ax.set_xlabel("solution index and configuration")
    fig.colorbar(image, ax=ax, label=values.replace("_", " ") + " (%)", shrink=0.8)
    ax.set_title(title)
    return fig
