import pytest
import torch

from cnn2gnn_lib import efficiency, students, teachers


def test_mlp_flops_are_two_per_multiply_add():
    model = students.MLPStudent(784, 512, 10)
    expected = 2 * (784 * 512 + 512 * 10)
    assert efficiency.flops_per_image(model, torch.rand(8, 784)) == expected


def test_gnn_flops_add_the_graph_and_its_messages():
    torch.manual_seed(0)
    x = torch.rand(64, 784)
    gnn = students.GNNStudent(784, 512, 10, s=5, backend="torch")
    mlp = students.MLPStudent(784, 512, 10)
    graph = gnn.build_graph(x)  # the paper's design: both layers pass messages on this graph
    assert graph.num_edges > 64 * 5
    distances = 2 * 64 * 64 * 512 / 64           # the head's X W1 (X W1)^T per image
    messages = 2 * graph.num_edges * (512 + 10) / 64
    assert gnn.message_passing_flops(x) == messages * 64
    assert mlp.message_passing_flops(x) == 0.0
    assert abs(efficiency.flops_per_image(gnn, x)
               - (efficiency.flops_per_image(mlp, x) + distances + messages)) < 1e-6


@pytest.mark.parametrize("options", [
    {"graph_layers": "first"}, {"graph_layers": "second"},
    {"graph_layers": "second", "graph_space": "hidden", "self_weight": 0.8},
    {"graph_layers": "both", "graph_space": "hidden"}, {"graph": "knn"}])
def test_message_passing_flops_count_each_layer_that_passes_messages(options):
    """2 FLOPs per edge and feature, on the graph each layer actually uses."""
    torch.manual_seed(0)
    x = torch.rand(48, 784)
    gnn = students.GNNStudent(784, 32, 10, s=4, backend="torch", **options).train()
    first, second = gnn.design.sources
    with torch.no_grad(), students.evaluating(gnn):
        last_graph = gnn(x, return_graph=True)[1]  # the second layer's graph, if it has one
    input_graph = gnn.build_graph(x)
    expected = 0.0
    if first is not None:
        expected += 2 * input_graph.num_edges * 32
    if second is not None:
        expected += 2 * last_graph.num_edges * 10
    if second == "hidden":
        assert not torch.equal(last_graph.src, input_graph.src)  # a graph of its own
    assert gnn.message_passing_flops(x) == expected
    assert gnn.training  # counting leaves the mode as it was


def test_conv_teacher_costs_far_more_than_a_student():
    teacher = teachers.build_teacher("resnet20", 1, 10)
    student = students.MLPStudent(784, 512, 10)
    ratio = (efficiency.flops_per_image(teacher, torch.rand(2, 1, 28, 28))
             / efficiency.flops_per_image(student, torch.rand(2, 784)))
    assert ratio > 50


def test_profile_record_and_custom_run():
    model = students.MLPStudent(784, 64, 10)
    batch = torch.rand(32, 784)
    calls = []
    record = efficiency.profile("mlp", model, batch, run=lambda x: calls.append(len(x)),
                                flops=123.0, repeats=2, warmup=1, min_seconds=0.01)
    assert record["flops_per_image"] == 123.0 and record["batch_size"] == 32
    assert record["parameters"] == 784 * 64 + 64 + 64 * 10 + 10
    assert record["images_per_second"] > 0 and calls and set(calls) == {32}
