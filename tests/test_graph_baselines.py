"""Tests of cnn2gnn_lib.graph.baselines: kNN graphs, the chunked builder, homophily."""
import pytest
import torch

from cnn2gnn_lib import data, graph as G


def test_chunked_builder_equals_the_dense_head_on_real_images(fmnist_train):
    subset = data.balanced_subset(fmnist_train, 300)
    x = data.flat_features(subset).double()
    dense = G.adaptive_neighbors(G.pairwise_sq_dists(x), 7)
    chunked = G.chunked_adaptive_graph(x, 7, chunk_size=700)
    assert chunked.num_edges == 3000 * 7
    assert torch.allclose(chunked.to_dense(), dense, atol=1e-9)


def test_chunked_builder_against_a_bank():
    torch.manual_seed(4)
    queries, bank = torch.randn(50, 3, dtype=torch.float64), torch.randn(80, 3, dtype=torch.float64)
    graph = G.chunked_adaptive_graph(queries, 4, candidates=bank, chunk_size=16)
    dense = G.adaptive_neighbors(G.pairwise_sq_dists(queries, bank), 4, exclude_self=False)
    assert torch.allclose(graph.to_dense()[:50, :80], dense)


@pytest.mark.parametrize("backend", ["torch", "dgl"])
def test_knn_graph_backends_agree(backend):
    from cnn2gnn_lib.dgl_bridge import dgl_available

    if backend == "dgl" and not dgl_available():
        pytest.skip("DGL does not import here")
    torch.manual_seed(5)
    x = torch.randn(60, 10)
    graph = G.knn_graph(x, 6, backend=backend)
    reference = G.knn_graph(x, 6, backend="torch")
    assert graph.num_edges == 360
    assert (graph.src != graph.dst).all()
    assert torch.equal(graph.coalesce().to_dense(), reference.coalesce().to_dense())
    fixed = G.fixed_knn_graph(x, 6, backend=backend)
    assert torch.allclose(fixed.to_dense(), fixed.to_dense().T)


def test_edge_homophily():
    labels = torch.tensor([0, 0, 1, 1])
    inside = torch.tensor([[0, 1.0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    across = torch.tensor([[0, 0, 1.0, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]])
    assert G.edge_homophily(inside + torch.eye(4), labels) == 1.0
    assert G.edge_homophily(across, labels) == 0.0
    assert G.edge_homophily(inside * 3 + across, labels) == pytest.approx(0.75)
    assert G.edge_homophily(inside * 3 + across, labels, weighted=False) == pytest.approx(0.5)

