"""Tests of cnn2gnn_lib.students.layers (GraphLinear) and the message passing it uses."""
import pytest
import torch

from cnn2gnn_lib import data, graph as G
from cnn2gnn_lib.dgl_bridge import dgl_available
from cnn2gnn_lib.students import GraphLinear, propagate, propagate_dgl, weighted_sum
from cnn2gnn_lib.students.layers import ANCHOR_GCN_SELF_WEIGHT

needs_dgl = pytest.mark.skipif(not dgl_available(), reason="DGL does not import here")


@pytest.fixture(scope="module")
def x(fmnist_test):
    """40 real test images (4 per class), flat and standardised."""
    return data.flat_features(data.balanced_subset(fmnist_test, 4, seed=3))


@pytest.fixture
def layer():
    torch.manual_seed(0)
    return GraphLinear(784, 12, backend="torch")


def test_without_a_graph_it_is_a_plain_linear_layer(x, layer):
    plain = torch.nn.Linear(784, 12)
    plain.load_state_dict(layer.state_dict())  # the parameter names of nn.Linear
    assert set(layer.state_dict()) == {"weight", "bias"}
    assert torch.allclose(layer(x), plain(x), atol=1e-6)
    messages = layer.transform(x)
    assert torch.allclose(messages, x @ layer.weight.T, atol=1e-6)  # no bias before mixing
    assert torch.allclose(layer.aggregate(messages, None, 0.3), plain(x), atol=1e-6)
    assert torch.allclose(layer.aggregate_from_bank(messages, None, messages[:5], 0.3),
                          plain(x), atol=1e-6)


def test_gcn_normalisation_gives_a_hat_m_plus_b(x, layer):
    torch.manual_seed(1)
    # a hand-made A_hat = D^-1/2 (A + w I) D^-1/2 on 40 nodes, w = 2
    a = (torch.rand(40, 40) < 0.1).float() * torch.rand(40, 40)
    a = (a + a.T) / 2 + 2.0 * torch.eye(40)
    d = a.sum(1).rsqrt()
    a_hat = d[:, None] * a * d[None, :]
    graph = G.Graph.from_dense(a_hat)
    messages = x @ layer.weight.T
    expected = a_hat @ messages + layer.bias
    assert torch.allclose(layer(x, graph), expected, atol=1e-4)
    assert torch.allclose(layer(x, graph, None), expected, atol=1e-4)
    # the head's normalised graph is used as it arrives
    learned = G.learn_graph(layer.transform(x).detach(), 4, 1.0, "sym")
    assert torch.allclose(layer(x, learned), learned.to_dense() @ messages + layer.bias,
                          atol=1e-4)


def test_self_weight_mixes_own_message_and_neighbour_mean(x, layer):
    graph = G.learn_graph(x @ torch.randn(784, 8), 4, normalization="row")
    mean = graph.to_dense()
    assert torch.allclose(mean.sum(1), torch.ones(40), atol=1e-5)  # mean of the neighbours
    assert torch.all(mean.diagonal() == 0)  # a node's own message comes through lambda only
    messages = x @ layer.weight.T
    for weight in (0.0, 0.7, 1.0):
        expected = weight * messages + (1 - weight) * mean @ messages + layer.bias
        assert torch.allclose(layer(x, graph, weight), expected, atol=1e-4)
    # lambda 1: the graph has no say
    assert torch.allclose(layer(x, graph, 1.0), layer(x), atol=1e-5)
    # a learned lambda (a tensor) receives d/dlambda sum(out) = sum(M - D^-1 A M)
    share = torch.tensor(0.3, requires_grad=True)
    layer(x, graph, share).sum().backward()
    expected_grad = (messages - mean @ messages).sum()
    assert torch.allclose(share.grad, expected_grad.detach(), rtol=1e-3, atol=1e-3)


def test_anchor_form_mixes_own_message_with_the_bank_messages(x, layer):
    queries, bank = x[:10], x[10:]
    graph = G.chunked_adaptive_graph(queries, 3, candidates=bank)
    to_bank = graph.to_dense()[:10, :30]  # A[query, bank row]
    assert torch.equal((to_bank > 0).sum(1), torch.full((10,), 3))
    own, bank_messages = layer.transform(queries), layer.transform(bank)
    neighbours = to_bank @ bank_messages
    for weight in (0.2, 1.0):
        expected = weight * own + (1 - weight) * neighbours + layer.bias
        assert torch.allclose(layer.aggregate_from_bank(own, graph, bank_messages, weight),
                              expected, atol=1e-4)
    # GCN normalisation: a node keeps half of its own message and takes half from its anchors
    assert ANCHOR_GCN_SELF_WEIGHT == 0.5
    assert torch.allclose(layer.aggregate_from_bank(own, graph, bank_messages),
                          0.5 * own + 0.5 * neighbours + layer.bias, atol=1e-4)


def test_propagate_is_a_times_x_and_names_a_bad_shape(x):
    graph = G.learn_graph(x[:, :50], 3)
    values = torch.randn(40, 6)
    assert torch.allclose(propagate(graph, values), graph.to_dense() @ values, atol=1e-5)
    with pytest.raises(ValueError, match=r"features must be \[40, D\] for a graph of 40 nodes, "
                                         r"got \(39, 6\)"):
        propagate(graph, values[:39])
    # weighted_sum: rectangular, src indexes the values, dst the num_targets outputs
    edges = G.Graph(torch.tensor([0, 2, 2]), torch.tensor([1, 0, 1]),
                    torch.tensor([0.5, 2.0, 1.0]), 3)
    rows = torch.tensor([[1.0], [10.0], [100.0]])
    assert torch.equal(weighted_sum(edges, rows, 2), torch.tensor([[200.0], [100.5]]))


@needs_dgl
def test_dgl_backend_gives_the_same_layer_and_gradients(x):
    torch.manual_seed(0)
    graph_input = (x[:, :64] * 1.0).requires_grad_()
    results = []
    for backend in ("torch", "dgl"):
        torch.manual_seed(0)
        layer = GraphLinear(784, 12, backend=backend)
        graph_input.grad = None
        graph = G.learn_graph(graph_input, 4)
        out = layer(x, graph, 0.4)
        out.square().sum().backward()
        results.append((out.detach(), layer.weight.grad.clone(), graph_input.grad.clone()))
    for torch_value, dgl_value in zip(*results):
        assert torch.allclose(torch_value, dgl_value, atol=1e-4)
    values = torch.randn(40, 5)
    assert torch.allclose(propagate_dgl(graph, values), propagate(graph, values, "torch"),
                          atol=1e-5)
