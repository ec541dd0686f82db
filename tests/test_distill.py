import pytest
import torch
import torch.nn.functional as F

from cnn2gnn_lib import graph as G
from cnn2gnn_lib.distill import kd_loss, relation_loss, soft_targets, teacher_similarity


def _direct(student, teacher, targets, T, alpha):
    """The formula written out term by term, with an explicit sum over classes."""
    p_t = torch.softmax(teacher / T, dim=1)
    log_p_s = torch.log_softmax(student / T, dim=1)
    kl = (p_t * (torch.log(p_t) - log_p_s)).sum(1).mean()
    ce = -torch.log_softmax(student, dim=1)[torch.arange(len(targets)), targets].mean()
    return (1 - alpha) * ce + alpha * T * T * kl


@pytest.mark.parametrize("T, alpha", [(1.0, 0.5), (4.0, 0.9), (2.5, 0.3), (8.0, 1.0)])
def test_kd_loss_matches_the_formula(T, alpha):
    torch.manual_seed(0)
    student, teacher = torch.randn(16, 10, dtype=torch.float64), torch.randn(16, 10,
                                                                             dtype=torch.float64)
    targets = torch.randint(0, 10, (16,))
    expected = _direct(student, teacher, targets, T, alpha)
    assert kd_loss(student, teacher, targets, T, alpha).item() == pytest.approx(expected.item(),
                                                                                 rel=1e-10)


def test_alpha_zero_is_cross_entropy():
    torch.manual_seed(1)
    student, teacher = torch.randn(8, 5), torch.randn(8, 5)
    targets = torch.randint(0, 5, (8,))
    assert torch.equal(kd_loss(student, teacher, targets, 3.0, 0.0),
                       F.cross_entropy(student, targets))


def test_no_gradient_when_the_student_answers_like_the_teacher():
    torch.manual_seed(2)
    teacher = torch.randn(8, 5)
    student = teacher.clone().requires_grad_(True)
    loss = kd_loss(student, teacher, torch.randint(0, 5, (8,)), 4.0, 1.0)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert student.grad.abs().max() < 1e-6


def test_the_teacher_never_receives_gradient():
    teacher = torch.randn(4, 3, requires_grad=True)
    student = torch.randn(4, 3, requires_grad=True)
    kd_loss(student, teacher, torch.tensor([0, 1, 2, 0]), 2.0, 0.7).backward()
    assert teacher.grad is None and student.grad is not None


def test_t_squared_keeps_the_soft_gradient_on_scale():
    torch.manual_seed(3)
    teacher = torch.randn(64, 10) * 3

    def soft_grad_norm(T):
        student = torch.randn(64, 10, generator=torch.Generator().manual_seed(9)).requires_grad_()
        kd_loss(student, teacher, torch.zeros(64, dtype=torch.long), T, 1.0).backward()
        return student.grad.norm().item()

    # without T^2 the gradient would shrink about 1/T^2 (here 1/64) from T=1 to T=8
    assert 0.1 < soft_grad_norm(8.0) / soft_grad_norm(1.0) < 2.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(student=torch.randn(4, 3), teacher=torch.randn(4, 5)), "same shape"),
    (dict(student=torch.randn(4, 3), teacher=torch.randn(4, 3), targets=torch.zeros(5).long()),
     "targets must be"),
    (dict(student=torch.randn(4), teacher=torch.randn(4)), "must be \\[B, K\\]"),
    (dict(alpha=1.5), "alpha"), (dict(temperature=0.0), "temperature")])
def test_bad_arguments_are_named(kwargs, message):
    student = kwargs.pop("student", torch.randn(4, 3))
    teacher = kwargs.pop("teacher", torch.randn(4, 3))
    targets = kwargs.pop("targets", torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=message):
        kd_loss(student, teacher, targets, **kwargs)


def test_soft_targets_flatten_with_temperature():
    logits = torch.tensor([[4.0, 1.0, 0.0]])
    sharp, soft = soft_targets(logits, 1.0), soft_targets(logits, 8.0)
    assert torch.allclose(sharp.sum(), torch.tensor(1.0)) and soft.max() < sharp.max()


def test_relation_loss_charges_edges_the_teachers_dissimilarity():
    torch.manual_seed(0)
    teacher = torch.tensor([[9.0, 0, 0], [9.0, 0, 0], [0, 9.0, 0], [0, 0, 9.0]])
    similarity = teacher_similarity(teacher, 1.0)
    assert torch.allclose(similarity.diagonal(), torch.ones(4))
    assert similarity[0, 1] > 0.99 and similarity[0, 2] < 0.01
    same = G.Graph(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.ones(2), 4)
    across = G.Graph(torch.tensor([0, 2]), torch.tensor([2, 0]), torch.ones(2), 4)
    assert relation_loss(same, teacher, 1.0) < 0.01 < 0.9 < relation_loss(across, teacher, 1.0)
    # weighted mean of (1 - similarity) over the edges, self-loops ignored
    both = G.Graph(torch.tensor([0, 0, 3]), torch.tensor([1, 2, 3]),
                   torch.tensor([3.0, 1.0, 5.0]), 4)
    expected = (3 * (1 - similarity[0, 1]) + 1 * (1 - similarity[0, 2])) / 4
    assert torch.allclose(relation_loss(both, teacher, 1.0), expected)


def test_relation_loss_moves_the_learned_graph_towards_the_teacher():
    """One gradient step on the relation loss alone raises the graph's agreement with the
    teacher's classes: the gradient reaches the embedding through the differentiable head."""
    torch.manual_seed(0)
    labels = torch.arange(4).repeat_interleave(10)
    teacher = torch.nn.functional.one_hot(labels, 4).float() * 6
    embedding = torch.randn(40, 8, requires_grad=True)
    optimizer = torch.optim.SGD([embedding], lr=2.0)
    before = G.edge_homophily(G.learn_graph(embedding.detach(), 5), labels)
    for _ in range(30):
        loss = relation_loss(G.learn_graph(embedding, 5), teacher)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = G.edge_homophily(G.learn_graph(embedding.detach(), 5), labels)
    assert after > before + 0.2


def test_relation_loss_checks_its_inputs():
    graph = G.Graph(torch.tensor([0]), torch.tensor([1]), torch.ones(1), 3)
    with pytest.raises(ValueError, match="teacher_logits"):
        relation_loss(graph, torch.zeros(2, 4))
    loops = G.Graph(torch.tensor([0]), torch.tensor([0]), torch.ones(1), 3)
    with pytest.raises(ValueError, match="no edges"):
        relation_loss(loops, torch.zeros(3, 4))
