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
                image = dataset.images[picks[column]].permute(1, 2, 0).numpy()
                ax.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image,
                          cmap="gray" if image.shape[-1] == 1 else None)
        axes[label, 0].text(-2, dataset.images.shape[2] / 2, name, ha="right", va="center",
                            fontsize=8)
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
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            if rates[i, j] >= 0.01:  # smaller rates would print as 0
                ax.text(j, i, f"{100 * rates[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
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
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    if title:
        ax.set_title(title)
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
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (epochs, values) in curves.items():
        ax.plot(epochs, values, marker=".", label=name)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
