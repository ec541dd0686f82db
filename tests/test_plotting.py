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
    assert confusion.axes[0].images[0].get_array()[3, 3] == 100.0  # percent of the true class
    assert confusion.axes[1].get_ylabel() == "% of the true class"  # the colour bar says so
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


def test_show_image_draws_grey_and_colour_images(fmnist_test):
    import matplotlib.pyplot as plt

    fig, (grey_ax, colour_ax, float_ax) = plt.subplots(1, 3)
    grey = plotting.show_image(grey_ax, fmnist_test.images[0])
    assert grey.get_cmap().name == "gray"
    assert (grey.get_array() == fmnist_test.images[0, 0].numpy()).all()
    rgb = torch.stack([fmnist_test.images[0, 0], torch.zeros(28, 28, dtype=torch.uint8),
                       fmnist_test.images[1, 0]])
    colour = plotting.show_image(colour_ax, rgb).get_array()
    assert colour.shape == (28, 28, 3) and colour.max() <= 1.0
    assert torch.allclose(torch.as_tensor(colour[..., 0]),
                          fmnist_test.images[0, 0].float() / 255)
    # floats outside [0, 1] (propagated or standardised pixels) are clipped, not wrapped
    clipped = plotting.show_image(float_ax, torch.full((3, 4, 4), 1.7)).get_array()
    assert clipped.max() == 1.0
    with pytest.raises(ValueError, match=r"\[1 or 3, H, W\]"):
        plotting.show_image(grey_ax, torch.zeros(2, 4, 4))
    plt.close(fig)


def test_book_style_sets_readable_font_sizes():
    import matplotlib.pyplot as plt

    plotting.book_style()
    assert plt.rcParams["font.size"] >= 11 and plt.rcParams["xtick.labelsize"] >= 10


def test_efficiency_plot_names_every_point_in_a_legend_under_the_axes():
    from cnn2gnn_lib import report

    results = report.load_results("fashion-mnist")
    figure = plotting.plot_efficiency(results)
    ax = figure.axes[0]
    legend = ax.get_legend()
    names = [text.get_text() for text in legend.get_texts()]
    assert len(names) == len(ax.collections) >= 4 and not ax.texts  # no labels on the markers
    figure.canvas.draw()
    box, axes_box = legend.get_window_extent(), ax.get_window_extent()
    assert box.y1 <= axes_box.y0  # under the axes, not on the data
    assert box.y0 >= 0 and box.x0 >= 0 and box.x1 <= figure.bbox.x1  # and inside the figure
    assert all("k parameters)" in name for name in names)  # the marker area, in numbers


def test_learning_curves_keep_their_legend_outside_the_data():
    figure = plotting.plot_learning_curves({"a": ([1, 2], [0.5, 0.6]), "b": ([1, 2], [0.4, 0.7])})
    ax = figure.axes[0]
    assert ax.get_legend().get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1


def test_protocol_figure_puts_two_panels_a_row_and_one_line_per_protocol():
    from cnn2gnn_lib import report

    found = report.load_results("fashion-mnist")["protocols"]
    graphs = [name for name, r in found["students"].items() if "anchor" in r]
    figure = plotting.plot_protocols(found, {"teacher": 0.94})
    shown = [ax for ax in figure.axes if ax.get_visible()]
    assert len(shown) == len(graphs) >= 3
    assert {round(ax.get_position().x0, 3) for ax in shown} == \
        {round(ax.get_position().x0, 3) for ax in shown[:2]}  # two columns, never more
    width, _ = figure.get_size_inches()
    assert width <= 13
    families = {plotting.row_family(row) for row in found["students"][graphs[0]]["rows"]}
    assert len(shown[0].get_lines()) == len(families) + 2  # + the teacher and anchor mode


def test_design_figure_names_each_design_best_mode_as_the_table_does():
    from cnn2gnn_lib import report
    from cnn2gnn_lib.study.design_tables import best_mode

    records = [r for r in report.load_results("fashion-mnist")["designs"]["records"]
               if r["student"] != "mlp"]
    figure = plotting.plot_designs(records, ("batch", plotting.BEST_MODE))
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.texts] == [best_mode(r)[0] for r in records]
    best_bars = ax.containers[1]
    assert [round(bar.get_width(), 4) for bar in best_bars] == \
        [round(100 * best_mode(r)[1], 4) for r in records]


def test_gap_figure_places_students_teacher_and_target_where_the_numbers_say():
    gap = {"teacher": 0.94, "target": 0.915,
           "before": {"student": "hidden-graph (GNN)", "mode": "anchor", "mean": 0.89,
                      "std": 0.002},
           "after": {"student": "GNN", "mode": "anchor+labels:0.25", "mean": 0.893,
                     "std": 0.001}}
    ax = plotting.plot_gap(gap).axes[0]
    lines = {line.get_label(): line.get_xdata()[0] for line in ax.get_lines()
             if line.get_label() in ("teacher", "half the gap before")}
    assert lines == {"teacher": pytest.approx(94.0), "half the gap before": pytest.approx(91.5)}
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("before") and labels[1].startswith("after\nGNN")
    notes = sorted(t.get_text() for t in ax.texts)
    assert notes == ["4.70 points below", "5.00 points below"]
    # a study without a design stage has no "before": one row, no target
    ax = plotting.plot_gap({"teacher": 0.94, "after": gap["after"]}).axes[0]
    assert len(ax.get_yticklabels()) == 1
    assert "half the gap before" not in [line.get_label() for line in ax.get_lines()]
