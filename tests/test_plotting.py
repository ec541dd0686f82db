import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from matplotlib.offsetbox import AnnotationBbox

from cnn2gnn_lib import data, graph, plotting


def test_confusion_matrix_counts():
    predictions = torch.tensor([0, 1, 1, 2, 2, 2])
    targets = torch.tensor([0, 1, 2, 2, 2, 0])
    counts = plotting.confusion_matrix(predictions, targets, 3)
    assert counts.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]


def test_figures_from_real_images(fmnist_test):
    subset = data.balanced_subset(fmnist_test, 6)
    grid = plotting.show_images(subset, per_class=4)
    assert len([ax for ax in grid.axes if ax.images]) == 40
    history = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.1,
                "test_accuracy": 0.45},
               {"epoch": 2, "train_loss": 0.5, "train_acc": 0.8, "test_loss": 0.6,
                "test_accuracy": 0.75}]
    curves = plotting.plot_history(history)
    assert len(curves.axes[0].lines) == 2
    confusion = plotting.plot_confusion(subset.targets, subset.targets, subset.classes)
    assert confusion.axes[0].images[0].get_array()[3, 3] == 1.0
    means = plotting.mean_image_per_class(subset)
    assert means.shape == (10, 1, 28, 28)


def test_draw_image_graph_puts_a_thumbnail_on_every_node(fmnist_test):
    subset = data.balanced_subset(fmnist_test, 3, seed=2)
    learned = graph.learn_graph(data.flat_features(subset), 3)
    figure = plotting.draw_image_graph(learned, subset.images, subset.targets, subset.classes)
    thumbnails = [a for a in figure.axes[0].artists if isinstance(a, AnnotationBbox)]
    assert len(thumbnails) == 30
    with pytest.raises(ValueError, match="30 nodes but 29 images"):
        plotting.draw_image_graph(learned, subset.images[:29], subset.targets, subset.classes)
