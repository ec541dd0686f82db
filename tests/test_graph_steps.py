"""Tests of cnn2gnn_lib.graph.steps: the adaptive-neighbour head, step by step."""
import pytest
import torch

from cnn2gnn_lib import graph as G


def _project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection onto {p >= 0, sum p = 1} (sort-based)."""
    u, _ = torch.sort(v, descending=True)
    cumulative = u.cumsum(0) - 1
    ks = torch.arange(1, len(v) + 1, dtype=v.dtype)
    rho = int((u - cumulative / ks > 0).nonzero().max())
    return (v - cumulative[rho] / (rho + 1)).clamp_min(0)


def _solve_row_by_projected_gradient(d: torch.Tensor, gamma: float, steps=20000):
    """Brute force: min_p p.d + gamma |p|^2 on the simplex by projected gradient descent."""
    p = torch.full_like(d, 1.0 / len(d))
    step = 1.0 / (2 * gamma)  # 1/L for the gradient d + 2 gamma p
    for _ in range(steps):
        p = _project_simplex(p - step * (d + 2 * gamma * p))
    return p


def test_closed_form_solves_the_constrained_problem():
    torch.manual_seed(0)
    for s in (1, 3, 6):
        dist = torch.rand(5, 12, dtype=torch.float64) * 4
        P = G.adaptive_neighbors(dist, s, exclude_self=False)
        for i in range(5):
            d = dist[i]
            sorted_d = torch.sort(d).values
            # the gamma_i for which exactly s entries are non-zero (the paper's choice)
            gamma = 0.5 * (s * sorted_d[s] - sorted_d[:s].sum()).item()
            brute = _solve_row_by_projected_gradient(d, gamma)
            assert torch.allclose(P[i], brute, atol=1e-6), (s, i)


def test_rows_sum_to_one_with_exactly_s_neighbours_and_no_self():
    torch.manual_seed(1)
    h = torch.randn(40, 8)
    P = G.adaptive_neighbors(G.pairwise_sq_dists(h), 5)
    assert torch.allclose(P.sum(1), torch.ones(40))
    assert ((P > 0).sum(1) == 5).all()
    assert (P.diagonal() == 0).all()
    # the non-zeros are the 5 nearest other nodes
    dist = G.pairwise_sq_dists(h).fill_diagonal_(float("inf"))
    nearest = torch.topk(dist, 5, largest=False).indices.sort(1).values
    assert torch.equal((P > 0).nonzero()[:, 1].view(40, 5), nearest)


def test_ties_and_duplicates_have_a_defined_answer():
    duplicates = torch.zeros(6, 6)
    P = G.adaptive_neighbors(duplicates, 2)
    assert torch.allclose(P.sum(1), torch.ones(6)) and ((P > 0).sum(1) == 2).all()
    assert set(P[P > 0].tolist()) == {0.5}
    # the 2nd nearest ties with the 3rd: uniform over the 2 nearest, still exactly 2 non-zeros
    tie = torch.tensor([[0.0, 2.0, 2.0, 3.0, 5.0]])
    row = G.adaptive_neighbors(tie, 2, exclude_self=False)[0]
    assert row[0] == 0.5 and sorted(row[1:3].tolist()) == [0.0, 0.5] and row[3:].sum() == 0
    # no tie: the closed form (d3 - d) / (2 d3 - d1 - d2)
    plain = torch.tensor([[0.0, 1.0, 3.0, 9.0]])
    assert torch.allclose(G.adaptive_neighbors(plain, 2, exclude_self=False),
                          torch.tensor([[3 / 5, 2 / 5, 0.0, 0.0]]))


@pytest.mark.parametrize("bad, s, message", [
    (torch.rand(4, 4), 3, "s=3 neighbours need at least s\\+1=4 candidates.*3"),
    (torch.rand(4, 6), 6, "s=6 neighbours need"),
    (torch.rand(4, 4), 0, "s must be >= 1"),
    (torch.tensor([[0.0, float("nan"), 1.0]]), 1, "NaN or inf"),
    (torch.tensor([[0.0, float("inf"), 1.0]]), 1, "NaN or inf"),
    (torch.tensor([[0.0, -1.0, 1.0]]), 1, "non-negative"),
    (torch.rand(4), 1, "dist must be \\[B, M\\]"),
])
def test_bad_input_is_refused(bad, s, message):
    with pytest.raises(ValueError, match=message):
        G.adaptive_neighbors(bad, s, exclude_self=bad.dim() == 2 and bad.shape[0] == 4
                             and bad.shape[1] == 4)


def test_s_must_be_an_int():
    with pytest.raises(TypeError):
        G.adaptive_neighbors(torch.rand(5, 5), 2.0)


def test_pipeline_steps_dense_and_sparse_agree():
    torch.manual_seed(2)
    h = torch.randn(30, 6, dtype=torch.float64)
    P = G.adaptive_neighbors(G.pairwise_sq_dists(h), 4)
    A = G.symmetrize(P)
    assert torch.allclose(A, A.T)
    A1 = G.add_self_loops(A)
    assert torch.allclose(A1.diagonal(), torch.ones(30, dtype=torch.float64))
    A_hat = G.normalize(A1)
    degree = A1.sum(1)
    assert torch.allclose(A_hat, A1 / torch.sqrt(degree[:, None] * degree[None, :]))
    assert torch.allclose(A_hat, A_hat.T)
    sparse = G.learn_graph(h, 4)
    assert torch.allclose(sparse.to_dense(), A_hat)
    assert sparse.num_edges == int((A_hat > 0).sum())


def test_gradients_flow_through_the_head_into_the_projection():
    torch.manual_seed(3)
    x = torch.randn(16, 5, dtype=torch.float64)
    weight = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(16, 16, dtype=torch.float64)

    def head(w):
        return (G.learn_graph(x @ w, 3).to_dense() * probe).sum()

    assert torch.autograd.gradcheck(head, (weight,), eps=1e-6, atol=1e-5)
    head(weight).backward()
    assert weight.grad.abs().sum() > 0


def test_row_normalize_gives_neighbour_means():
    torch.manual_seed(0)
    x = torch.randn(30, 6)
    graph = G.learn_graph(x, 4, normalization="row")
    dense = graph.to_dense()
    assert torch.allclose(dense.sum(1), torch.ones(30), atol=1e-6)
    assert torch.all(dense.diagonal() == 0)  # no self-loops: the student mixes its own share
    sym = G.symmetrize(G.adaptive_neighbors(G.pairwise_sq_dists(x), 4))
    assert torch.allclose(dense, sym / sym.sum(1, keepdim=True), atol=1e-6)
    assert torch.allclose(G.row_normalize(sym), dense, atol=1e-6)  # dense and sparse agree
    lonely = G.row_normalize(torch.zeros(3, 3))
    assert torch.equal(lonely, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="normalization"):
        G.learn_graph(x, 4, normalization="l2")
