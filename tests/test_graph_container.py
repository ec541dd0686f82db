"""Tests of cnn2gnn_lib.graph.container: the Graph edge list and its conversions."""
import pytest
import torch

from cnn2gnn_lib import data, graph as G


def test_graph_conversions(fmnist_test):
    subset = data.balanced_subset(fmnist_test, 3)
    graph = G.learn_graph(data.flat_features(subset), 3)
    nx_graph = graph.to_networkx(subset.targets)
    assert nx_graph.number_of_nodes() == 30
    dense = graph.without_self_loops().to_dense()
    for u, v, attributes in nx_graph.edges(data=True):
        assert attributes["weight"] == pytest.approx(float(dense[u, v] + dense[v, u]), abs=1e-6)
    assert nx_graph.nodes[0]["label"] == int(subset.targets[0])


def test_graph_to_dgl_keeps_weights():
    from cnn2gnn_lib.dgl_bridge import dgl_available

    if not dgl_available():
        pytest.skip("DGL does not import here")
    graph = G.learn_graph(torch.randn(20, 4), 3)
    dgl_graph = graph.to_dgl()
    src, dst = dgl_graph.edges()
    assert torch.equal(src, graph.src) and torch.equal(dst, graph.dst)
    assert torch.allclose(dgl_graph.edata["weight"], graph.weight)


def test_graph_validates_its_edges():
    with pytest.raises(ValueError, match="num_nodes"):
        G.Graph(torch.tensor([0, 5]), torch.tensor([1, 1]), torch.ones(2), 3)
    with pytest.raises(ValueError, match="equal length"):
        G.Graph(torch.tensor([0]), torch.tensor([1, 1]), torch.ones(2), 3)

