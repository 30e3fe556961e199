"""Figures the chapters share. Each function returns a matplotlib Figure and never calls ``plt.show``."""

from __future__ import annotations

import matplotlib.pyplot as plt

from imckit.core.training import History


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
    """Bar chart of each mappable layer's weight count (a :func:`imckit.core.models.layer_table`)."""
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


def selection_pressure(selections, title: str = "cumulative selection pressure"):
    """Fig. 5a of seed paper 000: how unevenly parents are picked. For a few generations, the individuals
    are sorted from most to least selected and the cumulative share of selections is drawn against the
    share of the population (a Lorenz curve); the diagonal is uniform selection."""
    import numpy as np

    selections = np.asarray(selections)
    generations = selections.shape[0]
    fig, ax = plt.subplots(figsize=(5.2, 4), constrained_layout=True)
    picks = sorted({0, generations // 4, generations // 2, generations - 1})
    share = np.arange(1, selections.shape[1] + 1) / selections.shape[1]
    for g in picks:
        counts = np.sort(selections[g])[::-1]
        ax.plot(share, np.cumsum(counts) / counts.sum(), label=f"generation {g + 1}")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, label="uniform")
    ax.set(xlabel="share of the population (most selected first)", ylabel="share of all selections", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def rate_evolution(history, title: str = "self-adaptive rates"):
    """Fig. 5b of seed paper 000: the population's mean mutation and crossover rates per generation, with
    the tournament size and elite share schedule on a second axis."""
    import numpy as np

    gens = np.arange(1, len(history["mutation"]) + 1)
    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    ax.plot(gens, history["mutation"], label="mutation rate (per gene)")
    ax.plot(gens, history["crossover"], label="crossover probability")
    ax.set(xlabel="generation", ylabel="population mean rate", ylim=(0, 1.05), title=title)
    ax.grid(alpha=0.3)
    right = ax.twinx()
    right.plot(gens, history["tournament"], ":", color="0.3", label="tournament size")
    right.plot(gens, 100 * np.asarray(history["elite"]), "--", color="0.5", label="elite share (%)")
    right.set_ylabel("tournament size / elite %")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="center right")
    return fig


def genome_heatmap(genomes, layer_names, config_labels, memory=None, title: str = "configurations of the front"):
    """Fig. 6 of seed paper 000: one row per front genome (sorted as given), one column per layer, the
    colour is the configuration index."""
    import numpy as np
    from matplotlib.colors import BoundaryNorm, ListedColormap

    genomes = np.asarray(genomes)
    n = len(config_labels)
    cmap = ListedColormap(plt.get_cmap("tab10" if n <= 10 else "tab20").colors[:n])
    fig, ax = plt.subplots(figsize=(6.4, 5.2), constrained_layout=True)
    image = ax.imshow(genomes, aspect="auto", interpolation="nearest", cmap=cmap,
                      norm=BoundaryNorm(np.arange(-0.5, n), n))
    ax.set_xticks(range(len(layer_names)), [f"{i + 1} {name}" for i, name in enumerate(layer_names)], fontsize=7,
                  rotation=35, ha="right")
    ax.set_xlabel("layer")
    if memory is not None:
        ticks = np.linspace(0, len(genomes) - 1, min(8, len(genomes))).round().astype(int)
        ax.set_yticks(ticks, [f"{memory[t]:.1f} %" for t in ticks], fontsize=7)
        ax.set_ylabel("front solutions (memory, % of 12-bit)")
    else:
        ax.set_ylabel("front solution")
    bar = fig.colorbar(image, ax=ax, ticks=range(n), shrink=0.9)
    bar.ax.set_yticklabels([f"{j}: {label}" for j, label in enumerate(config_labels)], fontsize=7)
    ax.set_title(title)
    return fig


def pareto_front(objectives, regions, exact=None, references=None, selected=None,
                 title: str = "memory against predicted loss change"):
    """Fig. 7 of seed paper 000: a front (memory % of the 12-bit network, predicted %ΔLoss) coloured by
    region, with the exact front as a line, named reference points and numbered selected points."""
    import numpy as np

    objectives = np.asarray(objectives)
    regions = np.asarray(regions)
    fig, ax = plt.subplots(figsize=(7, 4.4), constrained_layout=True)
    if exact is not None:
        ax.step(exact[:, 0], exact[:, 1], where="post", color="0.55", lw=1, label="exact front")
    colors = {"A": "tab:green", "B": "tab:orange", "C": "tab:red"}
    for region, color in colors.items():
        mask = regions == region
        if mask.any():
            ax.scatter(objectives[mask, 0], objectives[mask, 1], s=12, color=color, label=f"region {region}", zorder=3)
    for label, (x, y) in (references or {}).items():
        ax.scatter([x], [y], marker="s", s=40, facecolor="none", edgecolor="k", zorder=4)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for k, (x, y) in enumerate(selected if selected is not None else [], start=1):
        ax.scatter([x], [y], marker="*", s=90, color="k", zorder=5)
        ax.annotate(str(k), (x, y), textcoords="offset points", xytext=(5, -10), fontsize=9, weight="bold")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set(xlabel="memory (% of the uniform 12-bit network's devices)", ylabel="predicted loss change (%)",
           title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def hypervolume_curves(histories, target=None, title: str = "hypervolume of the front found so far"):
    """Hypervolume against evaluations for several searches (``{label: history}``), with an optional
    horizontal target line (e.g. 99 % of the exact front's)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    for label, history in histories.items():
        ax.plot(history["evaluations"], history["hypervolume"], label=label)
    if target is not None:
        ax.axhline(target, color="k", ls="--", lw=0.8, label="99 % of the exact front")
    ax.set(xlabel="genomes evaluated", ylabel="hypervolume", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def surrogate_scatter(predicted, simulated, agreement=None, title: str = "surrogate against simulation"):
    """Predicted (summed table) against simulated whole-network loss change, symmetric-log axes."""
    import numpy as np

    predicted = np.asarray(predicted)
    simulated = np.asarray(simulated)
    fig, ax = plt.subplots(figsize=(5.2, 4.4), constrained_layout=True)
    ax.scatter(predicted, simulated, s=16)
    low = min(predicted.min(), simulated.min())
    high = max(predicted.max(), simulated.max())
    ax.plot([low, high], [low, high], color="0.6", lw=0.8, label="simulated = predicted")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set(xlabel="predicted loss change (%, sum of the table)", ylabel="simulated loss change (%)", title=title)
    if agreement is not None:
        ax.text(0.03, 0.95, f"Spearman rho = {agreement['spearman']:.3f}\nKendall tau = {agreement['kendall']:.3f}",
                transform=ax.transAxes, va="top", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def compensation_boxplots(before, after, references=None):
    """Fig. 8 of seed paper 000 from paired runs: accuracy (%) of each solution over its error patterns
    without retraining (top) and after one-epoch compensation (bottom), ``before`` and ``after`` both
    ``{name: values}`` over the *same* patterns (``after[name][k]`` is pattern ``k`` of ``before[name]``
    compensated), on one accuracy scale so that the spreads compare. Each pattern is also a dot, coloured
    alike in both panels so that a pair can be followed; the uniform networks' accuracy are horizontal lines
    (``references``: ``{bits: accuracy}``)."""
    import numpy as np

    names = list(after)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.4), sharex=True, sharey=True, constrained_layout=True)
    colours = plt.get_cmap("viridis")
    for ax, values in ((top, before), (bottom, after)):
        ax.boxplot([values[n] for n in names], tick_labels=names, showfliers=False)
        for k, n in enumerate(names, start=1):
            v = np.asarray(values[n], dtype=float)
            shade = colours(np.linspace(0.1, 0.9, len(v))) if len(v) > 1 else ["tab:blue"]
            ax.scatter(np.full(len(v), k) + np.linspace(-0.12, 0.12, len(v)), v, s=12, c=shade, zorder=3)
    styles = ("-", "--", ":")
    for ax, what in ((top, "after error injection"), (bottom, "after one-epoch compensation (same patterns)")):
        for (bits, accuracy), style in zip((references or {}).items(), styles * 4):
            ax.axhline(accuracy, color="0.5", ls=style, lw=0.8, label=f"Full {bits}")
        ax.set(ylabel="accuracy (%)", title=what)
        ax.grid(alpha=0.3)
    top.legend(fontsize=8, loc="lower left")
    return fig


def compensation_gains(gains, labels=None, confidence: float = 0.95):
    """Paired gains (accuracy points, after minus before on the same error pattern) per solution, one marker
    per mode side by side (``gains``: ``{mode: {solution: values}}``, e.g. the method and its ablations):
    every pattern's gain as a small dot, the mean with its Student-t interval (``scipy.stats.t``) as a
    marker with error bars. ``labels``: mode -> legend text. When the gains span more than 20 points (a
    diverged pattern), the axis is linear within +-2 points and logarithmic beyond (``symlog``)."""
    import numpy as np
    from scipy.stats import t

    modes = list(gains)
    names = list(gains[modes[0]]) if modes else []
    fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
    width = 0.8 / max(len(modes), 1)
    for j, mode in enumerate(modes):
        offset = (j - (len(modes) - 1) / 2) * width
        colour = f"C{j}"
        for k, name in enumerate(names):
            v = np.asarray(gains[mode][name], dtype=float)
            x = k + offset
            ax.scatter(np.full(len(v), x), v, s=8, color=colour, alpha=0.4, zorder=2)
            half = (t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0
            ax.errorbar(x, v.mean(), yerr=half, fmt="o", color=colour, capsize=3, zorder=3,
                        label=(labels or {}).get(mode, mode) if k == 0 else None)
    ax.axhline(0, color="0.4", lw=0.8)
    values = np.concatenate([np.asarray(gains[m][n], dtype=float) for m in modes for n in names]) if names else []
    if len(values) and np.ptp(values) > 20:  # a diverged pattern would flatten the rest: log beyond +-2 points
        ax.set_yscale("symlog", linthresh=2)
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="paired gain (points)",
           title=f"accuracy gain per error pattern, mean with {100 * confidence:.0f} % interval")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return fig


def sweep_band(table, x: str, y: str, *, hue: str | None = None, confidence: float = 0.95, xlabel: str = "",
               ylabel: str = "", title: str = "", identity: bool = False):
    """A measured value against a swept parameter, from a sweep's table (:mod:`imckit.book.sweep`): every
    point as a dot, the mean over the points at each ``x`` (the seeds) as a line and its Student-t interval
    (``confidence``) as a band (:func:`seed_summary`); one line per value of ``hue``
    if given. Only rows with status ``ok`` count; at an ``x`` with a single point the band has no width.
    ``identity`` draws y = x (for a measured value against its target)."""
    if hue is not None and hue not in table.columns:
        raise ValueError(f"hue must be a column of the table; got {hue!r} (columns: {list(table.columns)})")
    rows = table[table["status"] == "ok"] if "status" in table.columns else table
    fig, ax = plt.subplots(figsize=(6.4, 3.8), constrained_layout=True)
    groups = list(rows.groupby(hue, sort=True)) if hue else [(None, rows)]
    for k, (name, group) in enumerate(groups):
        colour = f"C{k}"
        summary = seed_summary(group, x, y, confidence)
        ax.scatter(group[x].astype(float), group[y].astype(float), s=12, color=colour, alpha=0.5, zorder=3)
        levels, means, halves = summary.index.to_numpy(float), summary["mean"], summary["half_width"]
        ax.plot(levels, means, "-o", ms=3, color=colour, label=f"{hue} = {name}" if hue else "mean over seeds",
                zorder=4)
        ax.fill_between(levels, means - halves, means + halves, color=colour, alpha=0.2, lw=0,
                        label=f"{100 * confidence:.0f} % interval" if k == 0 else None)
    if identity and len(rows):
        low, high = float(rows[x].astype(float).min()), float(rows[x].astype(float).max())
        ax.plot([low, high], [low, high], color="0.5", ls="--", lw=0.8, label="y = x")
    ax.set(xlabel=xlabel or x, ylabel=ylabel or y, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def seed_summary(table, x: str, y: str, confidence: float = 0.95):
    """Per value of ``x``: how many points finished (``n``, the seeds), the mean and standard deviation of
    ``y`` over them and the half-width of the mean's Student-t interval (``confidence``; 0 for one point).
    Rows whose status is not ``ok`` or whose ``y`` is missing are left out."""
    import numpy as np
    import pandas as pd
    from scipy.stats import t

    from imckit.core.validate import check_number

    check_number(confidence, "confidence", 0.0, 1.0, low_open=True, high_open=True)
    missing = [c for c in (x, y) if c not in table.columns]
    if missing:
        raise ValueError(f"x and y must be columns of the table; got {missing} (columns: {list(table.columns)})")
    rows = table[table["status"] == "ok"] if "status" in table.columns else table
    values = pd.DataFrame({x: rows[x].astype(float), y: pd.to_numeric(rows[y], errors="coerce")}).dropna()
    grouped = values.groupby(x)[y]
    frame = pd.DataFrame({"n": grouped.count(), "mean": grouped.mean(), "std": grouped.std(ddof=1)})
    quantile = t.ppf(0.5 + confidence / 2, np.maximum(frame["n"] - 1, 1))
    frame["half_width"] = np.where(frame["n"] > 1, quantile * frame["std"] / np.sqrt(frame["n"]), 0.0)
    return frame


def hypervolume_bands(curves, grid, title: str = "hypervolume against evaluations"):
    """Several searches' hypervolume (% of the exact front's) against evaluations: ``curves`` maps a label to a
    (seeds, len(grid)) array; the line is the mean over the seeds, the band their range (min to max)."""
    import numpy as np

    grid = np.asarray(grid, dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    for label, matrix in curves.items():
        matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
        line, = ax.plot(grid, matrix.mean(axis=0), label=f"{label} ({len(matrix)} seed{'s' * (len(matrix) > 1)})")
        if len(matrix) > 1:
            ax.fill_between(grid, matrix.min(axis=0), matrix.max(axis=0), color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(100, color="k", ls="--", lw=0.8, label="exact front")
    ax.set(xlabel="configurations evaluated", ylabel="hypervolume (% of the exact front's)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def strategy_fronts(fronts, exact, points=None, xlabel: str = "predicted accuracy loss (%)",
                    ylabel: str = "latency (ms)", title: str = "fronts found at equal evaluations"):
    """Final fronts of several searches (``{label: (K, 2) array}``) over the exact front (a step line), with
    optional named points (``{label: (x, y)}``, e.g. validated configurations)."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.8, 4.2), constrained_layout=True)
    exact = np.asarray(exact, dtype=float)
    ax.step(exact[:, 0], exact[:, 1], where="post", color="0.55", lw=1.2, label="exact front", zorder=1)
    markers = "osD^vP"
    for k, (label, front) in enumerate(fronts.items()):
        front = np.asarray(front, dtype=float)
        ax.scatter(front[:, 0], front[:, 1], s=26, marker=markers[k % len(markers)], facecolors="none",
                   edgecolors=f"C{k}", linewidths=1.2, label=label, zorder=3)
    for label, (x, y) in (points or {}).items():
        ax.scatter([x], [y], marker="*", s=80, color="k", zorder=4)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
