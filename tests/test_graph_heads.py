"""Tests of cnn2gnn_lib.graph.heads: the heads a GNN student asks for its graphs."""
import pytest
import torch

from cnn2gnn_lib import data, graph as G
from cnn2gnn_lib.dgl_bridge import dgl_available
from cnn2gnn_lib.graph.heads import AdaptiveHead, GraphHead, KNNHead, make_head

BACKENDS = ["torch", pytest.param("dgl", marks=pytest.mark.skipif(
    not dgl_available(), reason="DGL does not import here"))]


@pytest.fixture(scope="module")
def images(fmnist_test):
    """60 real test images (6 per class) as flat features."""
    return data.flat_features(data.balanced_subset(fmnist_test, 6, seed=2))


def _same_graph(a: G.Graph, b: G.Graph) -> bool:
    return (a.num_nodes == b.num_nodes and torch.equal(a.src, b.src)
            and torch.equal(a.dst, b.dst) and torch.equal(a.weight, b.weight))


@pytest.mark.parametrize("normalization, loop", [("sym", 1.0), ("sym", 2.5), ("row", 1.0)])
def test_adaptive_head_batch_graph_is_learn_graph(images, normalization, loop):
    torch.manual_seed(0)
    embeddings = images @ torch.randn(784, 16)
    head = AdaptiveHead(5, normalization, loop)
    graph = head.batch_graph(embeddings)
    assert _same_graph(graph, G.learn_graph(embeddings, 5, loop, normalization))


def test_adaptive_head_passes_gradient_to_the_embeddings(images):
    embeddings = (images[:, :32] * 1.0).requires_grad_()
    head = AdaptiveHead(4)
    head.batch_graph(embeddings).weight.sum().backward()
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
    assert head.learnable and not KNNHead(4).learnable


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalization", ["sym", "row"])
def test_knn_head_batch_graph_is_fixed_knn_graph(images, backend, normalization):
    head = KNNHead(5, normalization, 1.0, backend=backend)
    graph = head.batch_graph(images)
    expected = G.fixed_knn_graph(images, 5, 1.0, backend, normalization)
    assert torch.allclose(graph.coalesce().to_dense(), expected.coalesce().to_dense())
    # and it is the same graph whichever library found the neighbours
    reference = G.fixed_knn_graph(images, 5, 1.0, "torch", normalization)
    assert torch.allclose(graph.to_dense(), reference.to_dense(), atol=1e-6)
    assert not graph.weight.requires_grad


@pytest.mark.parametrize("head", [AdaptiveHead(3), KNNHead(3, backend="torch")],
                         ids=["adaptive", "knn"])
def test_bank_graph_is_the_chunked_builder(images, head):
    queries, bank = images[:20], images[20:]
    graph = head.bank_graph(queries, bank, chunk_size=7)
    expected = G.chunked_adaptive_graph(queries, 3, candidates=bank, chunk_size=7,
                                        uniform=not head.learnable)
    assert _same_graph(graph, expected)
    among = head.bank_graph(images, None, chunk_size=16)  # no bank: the queries among themselves
    assert _same_graph(among, G.chunked_adaptive_graph(images, 3, chunk_size=16,
                                                       uniform=not head.learnable))
    assert (among.src != among.dst).all()


@pytest.mark.parametrize("kind", ["learned", "knn"])
def test_bank_graph_of_a_query_uses_exactly_its_s_nearest_bank_rows(images, kind):
    s = 4
    head = make_head(kind, s)
    queries, bank = images[:10], images[10:]
    graph = head.bank_graph(queries, bank)
    assert graph.num_edges == 10 * s
    distances = torch.cdist(queries, bank)
    for q in range(10):
        mine = graph.dst == q
        nearest = set(distances[q].argsort()[:s].tolist())
        assert set(graph.src[mine].tolist()) == nearest
        assert torch.allclose(graph.weight[mine].sum(), torch.tensor(1.0))
        if kind == "knn":  # the baseline: uniform 1/s
            assert torch.allclose(graph.weight[mine], torch.full((s,), 1.0 / s))
        else:  # adaptive weights: the nearer, the heavier, never uniform on real images
            order = distances[q, graph.src[mine]].argsort()
            weights = graph.weight[mine][order]
            assert (weights[:-1] >= weights[1:]).all() and weights[0] > weights[-1]


def test_batch_size_error_names_s_and_the_minimum(images):
    for head in (AdaptiveHead(5), KNNHead(5, backend="torch")):
        assert head.min_batch == 7
        head.check_batch(7)
        head.batch_graph(images[:7])  # the smallest batch works
        with pytest.raises(ValueError, match="a batch of 6 images cannot give each image s=5 "
                                             "neighbours; use batches of at least 7 images"):
            head.batch_graph(images[:6])


def test_s_may_change_between_epochs(images):
    head = AdaptiveHead(5)
    head.s = 2  # what a sparsity schedule does
    assert head.min_batch == 4
    assert head.bank_graph(images[:10], images[10:]).num_edges == 20
    assert _same_graph(head.batch_graph(images), G.learn_graph(images, 2))


def test_make_head_and_bad_options():
    assert isinstance(make_head("learned", 3), AdaptiveHead)
    knn = make_head("knn", 3, "row", 2.0, backend="torch")
    assert isinstance(knn, KNNHead) and knn.backend == "torch"
    assert (knn.s, knn.normalization, knn.self_loop_weight) == (3, "row", 2.0)
    assert repr(knn) == "KNNHead(s=3, normalization='row', self_loop_weight=2)"
    with pytest.raises(ValueError, match="graph must be one of"):
        make_head("complete", 3)
    for s in (0, 1.5, True):
        with pytest.raises(ValueError, match="s must be an int >= 1"):
            AdaptiveHead(s)
    with pytest.raises(ValueError, match="normalization must be one of"):
        KNNHead(3, "col")
    with pytest.raises(TypeError, match="abstract"):  # a head must say how it connects a batch
        GraphHead(3)
