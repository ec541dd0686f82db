"""Figures of the book, drawn with matplotlib from real data.

Each function takes data (a dataset, a history, predictions), draws one figure and returns the
matplotlib ``Figure`` so a notebook can show it and a script can save it as PNG.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data import ImageDataset
from .protocols import row_family
from .study import names
from .study.design_tables import best_mode
from .study.formatting import batch_protocol
from .study.inference import ANCHOR, BATCH


# Font sizes that read at the book's width (a figure is shrunk to about 700 pixels there).
BOOK_STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11,
              "xtick.labelsize": 10, "ytick.labelsize": 10, "legend.fontsize": 10,
              "figure.titlesize": 13}


def book_style() -> None:
    """Set the book's figure style: readable font sizes and, inside IPython, figures as PNG at
    twice the resolution shown ("retina"), so they stay sharp at any zoom and in the PDF."""
    plt.rcParams.update(BOOK_STYLE)
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # plain Python: nothing to configure
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def show_image(ax, image, **imshow_options):
    """Draw one image ``[C, H, W]`` (tensor or array; uint8 in 0..255 or float in [0, 1]) on
    ``ax``: one channel in grey, three in colour. Chapters use it so that their figures work for
    Fashion-MNIST and for colour datasets alike."""
    image = torch.as_tensor(np.asarray(image))
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected an image [1 or 3, H, W], got {tuple(image.shape)}")
    if image.shape[0] == 1:
        return ax.imshow(image[0].numpy(), **{"cmap": "gray", **imshow_options})
    pixels = image.permute(1, 2, 0)
    pixels = pixels.float() / 255 if pixels.dtype == torch.uint8 else pixels.float().clamp(0, 1)
    return ax.imshow(pixels.numpy(), **imshow_options)


def show_images(dataset: ImageDataset, per_class: int = 8, seed: int = 0,
                title: str | None = None):
    """A grid with ``per_class`` images of every class, one row per class, labelled."""
    generator = torch.Generator().manual_seed(seed)
    classes = dataset.classes
    fig, axes = plt.subplots(len(classes), per_class,
                             figsize=(per_class * 0.9, len(classes) * 0.95), squeeze=False)
    for label, name in enumerate(classes):
        members = (dataset.targets == label).nonzero().squeeze(1)
        picks = members[torch.randperm(len(members), generator=generator)[:per_class]]
        for column in range(per_class):
            ax = axes[label, column]
            ax.axis("off")
            if column < len(picks):
                show_image(ax, dataset.images[picks[column]])
        axes[label, 0].text(-2, dataset.images.shape[2] / 2, name, ha="right", va="center",
                            fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: Sequence[dict], title: str | None = None):
    """Loss and accuracy per epoch (train, and test where the run monitored it)."""
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    right.plot(epochs, [r["train_acc"] for r in history], marker="o", label="train")
    if "test_loss" in history[0]:
        left.plot(epochs, [r["test_loss"] for r in history], marker="s", label="test")
        right.plot(epochs, [r["test_accuracy"] for r in history], marker="s", label="test")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor,
                     num_classes: int) -> torch.Tensor:
    """Counts ``[true class, predicted class]``."""
    index = targets.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes ** 2).view(num_classes, num_classes)


def plot_confusion(predictions: torch.Tensor, targets: torch.Tensor, classes: Sequence[str],
                   title: str | None = None):
    """Row-normalised confusion matrix with the per-cell percentage written in."""
    counts = confusion_matrix(predictions, targets, len(classes)).float()
    rates = (counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(100 * rates, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=9)
    ax.set_yticks(range(len(classes)), classes, fontsize=9)
    ax.set(xlabel="predicted", ylabel="true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            if rates[i, j] >= 0.01:  # smaller rates would print as 0
                ax.text(j, i, f"{100 * rates[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="% of the true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def mean_image_per_class(dataset: ImageDataset) -> np.ndarray:
    """The average image of each class, ``[K, C, H, W]`` in [0, 1]."""
    images = dataset.images.float() / 255
    return np.stack([images[dataset.targets == k].mean(0).numpy()
                     for k in range(dataset.info.num_classes)])


def draw_image_graph(graph, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
                     ax=None, seed: int = 0, zoom: float | None = None,
                     title: str | None = None):
    """Draw a graph between images: thumbnails at the nodes, edge width from the weight,
    thumbnail frames and same-class edges coloured by class (edges across classes in grey).

    ``graph`` is a :class:`cnn2gnn_lib.graph.Graph` (or a networkx graph with ``weight`` edge
    attributes); ``images`` are the nodes' uint8 or [0, 1] images ``[N, C, H, W]``. The layout is
    a weighted spring layout, so strongly connected images sit together.
    """
    import networkx as nx
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    nx_graph = graph if isinstance(graph, nx.Graph) else graph.to_networkx(labels)
    n = nx_graph.number_of_nodes()
    if len(images) != n or len(labels) != n:
        raise ValueError(f"the graph has {n} nodes but {len(images)} images and "
                         f"{len(labels)} labels were given")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 9))
    palette = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    positions = nx.spring_layout(nx_graph, weight="weight", seed=seed, k=1.5 / np.sqrt(n))
    weights = np.array([d["weight"] for _, _, d in nx_graph.edges(data=True)]) \
        if nx_graph.number_of_edges() else np.zeros(0)
    scale = 4.0 / weights.max() if len(weights) and weights.max() > 0 else 1.0
    label_list = [int(v) for v in labels.tolist()]
    for (u, v, d) in nx_graph.edges(data=True):
        same = label_list[u] == label_list[v]
        colour = palette(label_list[u] % palette.N) if same else (0.6, 0.6, 0.6)
        ax.plot(*zip(positions[u], positions[v]), color=colour, alpha=0.8 if same else 0.5,
                linewidth=0.3 + d["weight"] * scale, zorder=1)
    pictures = images.float()
    if pictures.max() > 1:
        pictures = pictures / 255
    zoom = zoom or max(0.5, 1.6 - n / 60)
    for node in range(n):
        picture = pictures[node].permute(1, 2, 0).numpy()
        grey = picture.shape[-1] == 1
        box = OffsetImage(picture.squeeze(-1) if grey else picture, zoom=zoom,
                          cmap="gray_r" if grey else None)
        frame = AnnotationBbox(box, positions[node], frameon=True, pad=0.1,
                               bboxprops={"edgecolor": palette(label_list[node] % palette.N),
                                          "linewidth": 2})
        ax.add_artist(frame)
    xs, ys = zip(*positions.values())
    ax.set_xlim(min(xs) - 0.15, max(xs) + 0.15)
    ax.set_ylim(min(ys) - 0.15, max(ys) + 0.15)
    ax.set_axis_off()
    handles = [plt.Line2D([], [], color=palette(k % palette.N), linewidth=3, label=name)
               for k, name in enumerate(classes) if k in set(label_list)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=10)
    if title:
        ax.set_title(title, fontsize=14)  # graphs are drawn wide and shown shrunk
    return ax.figure


def plot_sweep(rows: Sequence[dict], name: str, chosen=None, log_x: bool = False):
    """Validation accuracy against one hyper-parameter (``rows``: ``value``, ``val_accuracy``)."""
    values = [row["value"] for row in rows]
    accuracies = [row["val_accuracy"] for row in rows]
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(values, accuracies, marker="o")
    if chosen is not None:
        ax.axvline(chosen, color="grey", linestyle="--", label=f"chosen: {chosen:g}")
        ax.legend()
    if log_x:
        ax.set_xscale("log", base=2)
    ax.set(xlabel=name, ylabel="validation accuracy", title=f"accuracy vs {name}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_learning_curves(curves: dict[str, tuple[Sequence[int], Sequence[float]]],
                         ylabel: str = "accuracy", title: str | None = None):
    """Several accuracy-per-epoch curves on one axis (``name -> (epochs, values)``)."""
    fig, ax = plt.subplots(figsize=(10, 4.2))  # room for the legend beside the axes
    for name, (epochs, values) in curves.items():
        ax.plot(epochs, values, marker=".", label=name)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the curves stay visible
    fig.tight_layout()
    return fig


# the mode name plot_designs reads as "each design's best inference mode"
BEST_MODE = "best mode"


def plot_designs(records: Sequence[dict], modes: Sequence[str] = (BATCH.name, ANCHOR.name),
                 reference: float | None = None, title: str | None = None):
    """Validation accuracy of every student design (horizontal bars, one colour per inference
    mode; ``records`` as in ``results.json["designs"]["records"]``). A mode named
    :data:`BEST_MODE` shows each design's best mode, named at the end of its bar, as the
    design table's "best mode" column does. ``reference`` draws a vertical line, e.g. at the
    distilled MLP's accuracy."""
    def value(record: dict, mode: str) -> tuple[str, float]:
        if mode == BEST_MODE:
            return best_mode(record)
        return mode, record["val"].get(mode, np.nan)

    names = [r["design"] for r in records]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(names) + 1.2))
    height = 0.8 / len(modes)
    for k, mode in enumerate(modes):
        found = [value(r, mode) for r in records]
        rows = np.arange(len(names)) + k * height
        ax.barh(rows, [100 * v for _, v in found], height=height, label=mode)
    finite = [100 * value(r, m)[1] for r in records for m in modes]
    finite = [v for v in finite if np.isfinite(v)]
    # the best modes' names in one column right of every bar and of the reference line
    column = max(finite + ([100 * reference] if reference is not None else [])) + 0.1
    if BEST_MODE in modes:
        best_rows = np.arange(len(names)) + modes.index(BEST_MODE) * height
        for row, record in zip(best_rows, records):
            ax.text(column, row, value(record, BEST_MODE)[0], va="center", fontsize=9)
    if reference is not None:
        ax.axvline(100 * reference, color="black", linestyle="--", linewidth=1,
                   label="distilled MLP")
    right_room = 3.5 if BEST_MODE in modes else 0.8  # the column of the best modes' names
    ax.set_xlim(min(finite) - 1.5, column + right_room)
    ax.set_yticks(np.arange(len(names)) + height * (len(modes) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set(xlabel="validation accuracy (%)", title=title)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))  # clear of the bars
    fig.tight_layout()
    return fig


def plot_per_class(classes: Sequence[str], series: dict[str, Sequence[float]],
                   title: str | None = None):
    """Per-class accuracy of several models side by side (``name -> accuracy per class``)."""
    fig, ax = plt.subplots(figsize=(10, 3.4))
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        ax.bar(np.arange(len(classes)) + k * width, [100 * v for v in values], width=width,
               label=name)
    ax.set_xticks(np.arange(len(classes)) + width * (len(series) - 1) / 2, classes,
                  rotation=30, ha="right")
    lowest = min(100 * v for values in series.values() for v in values)
    ax.set_ylim(max(0, lowest - 5), 100)
    ax.set(ylabel="test accuracy (%)", title=title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def plot_efficiency(results: dict, title: str | None = None):
    """Accuracy against measured images/s (log scale) for the teachers and the distilled
    students of a study (``results.json``); the marker area grows with the parameter count."""
    records = {r["model"]: r for r in results["efficiency"]["records"]}
    rows = {(row["student"], row["kd"]): row for row in results["students"]}
    points = []
    for teacher in results["teachers"].values():
        record = records.get(teacher["arch"])
        if record:
            points.append((teacher["arch"], record, teacher["metrics"]["test_accuracy"]))
    for model, (kind, metric) in {names.MLP_MODEL: ("mlp", names.TEST_BATCH),
                                  names.GNN_BATCH_MODEL: ("gnn-learned", names.TEST_BATCH),
                                  names.GNN_ANCHOR_MODEL: ("gnn-learned", names.TEST_ANCHOR)
                                  }.items():
        if model in records and (kind, True) in rows:
            row = rows[kind, True]
            # a batch-mode accuracy names its batching; every row is a mean over seeds
            how = f", {batch_protocol(results)}" if model == names.GNN_BATCH_MODEL else ""
            points.append((f"{model} + KD{how}, mean of {row[metric].get('n', 1)} seeds",
                           records[model], row[metric]["mean"]))
    compact = records.get(names.GNN_COMPACT_ANCHOR_MODEL)
    if compact is not None and "test_accuracy" in compact:  # its own run: seed 0
        points.append((f"{names.GNN_COMPACT_ANCHOR_MODEL} ({compact['bank_size']}) + KD, "
                       "seed 0", compact, compact["test_accuracy"]))
    fig, ax = plt.subplots(figsize=(9, 6.6))
    largest = max(record["parameters"] for _, record, _ in points)
    for name, record, accuracy in points:
        teacher = record.get("role") == "teacher"
        ax.scatter(record["images_per_second"], 100 * accuracy,
                   s=40 + 400 * record["parameters"] / largest, alpha=0.7,
                   marker="s" if teacher else "o",
                   label=f"{name} ({record['parameters'] / 1e3:,.0f}k parameters)")
    # names in a legend under the axes, not next to the points: points close in speed and
    # accuracy would put their labels on top of each other, and a legend beside the axes
    # would leave the data a narrow strip
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1, markerscale=0.6,
              fontsize=9, frameon=False)
    ax.set_xscale("log")
    ax.margins(x=0.15, y=0.15)
    ax.set(xlabel="images per second on the CPU (log scale)", ylabel="test accuracy (%)",
           title=title or "accuracy against inference speed (marker area: parameters)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_protocols(protocols: dict, references: dict[str, float] | None = None,
                   title: str | None = None):
    """Test accuracy against batch size under every protocol (``results.json["protocols"]``),
    one panel per GNN student, one line per protocol; ``references`` (name -> accuracy, e.g.
    the teachers and the MLP, whose answers do not depend on batching) and each GNN's anchor
    mode (inductive) are horizontal lines."""
    graphs = {name: r for name, r in protocols["students"].items() if "anchor" in r}
    references = dict(references or {})
    # two panels a row: four in one row shrink below what a book page can show
    columns = min(2, len(graphs))
    rows = -(-len(graphs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.8 * columns + 2.8, 3.7 * rows),
                             sharey=True, squeeze=False)
    for ax in axes.flat[len(graphs):]:
        ax.set_visible(False)
    lines = ["-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1))]
    for ax, (name, record) in zip(axes.flat, graphs.items()):
        series: dict[str, list[tuple[int, float]]] = {}
        for row in record["rows"]:
            point = (row["batch_size"], 100 * row["accuracy"])
            series.setdefault(row_family(row), []).append(point)
        for k, (family, points) in enumerate(series.items()):
            sizes, values = zip(*sorted(points))
            ax.plot(sizes, values, marker="o", markersize=3, linestyle=lines[k % len(lines)],
                    label=family)
        marks = {**references, "this GNN, anchor mode (inductive)":
                 record["anchor"]["accuracy"]}
        for k, (label, value) in enumerate(marks.items()):
            ax.axhline(100 * value, color=f"C{k + len(series)}", linewidth=1, alpha=0.8,
                       label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(protocols["batch_sizes"], [str(b) for b in protocols["batch_sizes"]])
        ax.set(title=name, xlabel="test batch size")
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("test accuracy (%)")
    axes[0][-1].legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_gap(gap: dict, title: str | None = None):
    """The gap to the teacher before and after patient distillation on one accuracy axis
    (``gap`` from :func:`cnn2gnn_lib.study.patient_stage.patient_gap`): each best honest
    student as its mean over seeds with a bar of one standard deviation, the teacher as a
    dashed line and half the gap before (the target) as a dotted one."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    rows = [(name, gap[name]) for name in ("before", "after") if gap.get(name)]
    for y, (name, stats) in enumerate(rows):
        ax.errorbar(100 * stats["mean"], y, xerr=100 * stats["std"], fmt="o", capsize=4)
        ax.annotate(f"{100 * (gap['teacher'] - stats['mean']):.2f} points below",
                    (100 * stats["mean"], y), xytext=(8, 6), textcoords="offset points")
    ax.axvline(100 * gap["teacher"], ls="--", color="k", label="teacher")
    if "target" in gap:
        ax.axvline(100 * gap["target"], ls=":", color="tab:red", label="half the gap before")
    ax.set(yticks=range(len(rows)), ylim=(-0.6, len(rows) - 0.4),
           xlabel="test accuracy (%): mean over seeds, bar of one standard deviation",
           yticklabels=[f"{name}\n{stats['student']}\n{stats['mode']}" for name, stats in rows],
           title=title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=2)  # below: room for x
    fig.tight_layout()
    return fig
