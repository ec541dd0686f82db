import pytest
import torch
import torch.nn.functional as F

from cnn2gnn_lib import graph as G
from cnn2gnn_lib.distill import (LossTerm, StudentBatch, cross_entropy_term, distillation_terms,
                                 kd_loss, relation_loss, relation_term, soft_kl, soft_targets,
                                 soft_term, teacher_similarity, total_loss)


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


# -- weighted loss terms -------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("T", [1.0, 2.0, 4.0, 8.0])
def test_distillation_terms_sum_to_kd_loss_exactly(alpha, T):
    """The weighted terms give bit for bit the numbers and the gradients of kd_loss."""
    generator = torch.Generator().manual_seed(int(alpha * 10 + T))
    logits = torch.randn(16, 10, generator=generator) * 3
    teacher = torch.randn(16, 10, generator=generator) * 3
    targets = torch.randint(0, 10, (16,), generator=generator)
    by_terms, direct = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    summed = total_loss(distillation_terms(alpha, T), StudentBatch(by_terms, targets, teacher))
    expected = kd_loss(direct, teacher, targets, T, alpha)
    assert torch.equal(summed, expected)
    summed.backward()
    expected.backward()
    assert torch.equal(by_terms.grad, direct.grad)


def test_distillation_terms_are_the_weighted_formula():
    assert [(t.name, t.weight) for t in distillation_terms(0.0, 4.0)] == [("ce", 1.0)]
    assert [(t.name, t.weight) for t in distillation_terms(1.0, 4.0)] == [("kd", 16.0)]
    assert [(t.name, t.weight) for t in distillation_terms(0.5, 2.0, 0.3)] == [
        ("ce", 0.5), ("kd", 2.0), ("relation", 0.3)]
    ce, kd, relation = distillation_terms(0.5, 2.0, 0.3)
    assert (ce.needs_teacher, ce.needs_graph) == (False, False)
    assert (kd.needs_teacher, kd.needs_graph) == (True, False)
    assert (relation.needs_teacher, relation.needs_graph) == (True, True)
    with pytest.raises(ValueError, match="alpha"):
        distillation_terms(1.5)
    with pytest.raises(ValueError, match="relation_weight"):
        distillation_terms(0.5, 4.0, -0.1)
    with pytest.raises(ValueError, match="temperature"):
        soft_term(1.0, 0.0)


def test_a_weight_of_zero_is_left_out():
    """alpha = 0 computes no KL (no teacher needed), alpha = 1 no cross-entropy, and a relation
    weight of 0 no relation term (no graph needed)."""
    for alpha in (0.0, 0.5, 1.0):
        terms = distillation_terms(alpha, 4.0, 0.0)
        assert all(t.weight != 0 for t in terms)
        assert not any(t.needs_graph for t in terms)
        assert any(t.needs_teacher for t in terms) == (alpha > 0)
    logits, targets = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    # no teacher and no graph in the batch: only the cross-entropy is computed
    assert torch.equal(total_loss(distillation_terms(0.0), StudentBatch(logits, targets)),
                       F.cross_entropy(logits, targets))
    # all-ignored targets (-100) make the cross-entropy NaN: alpha = 1 must not compute it
    teacher = torch.randn(4, 3)
    assert torch.isfinite(total_loss(distillation_terms(1.0, 2.0),
                                     StudentBatch(logits, torch.full((4,), -100), teacher)))


def test_the_relation_term_needs_a_graph():
    torch.manual_seed(0)
    logits, teacher = torch.randn(4, 3), torch.randn(4, 3)
    targets = torch.tensor([0, 1, 2, 0])
    terms = distillation_terms(0.5, 2.0, 0.7)
    with pytest.raises(AttributeError):
        total_loss(terms, StudentBatch(logits, targets, teacher))  # no graph in the batch
    graph = G.Graph(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 3]), torch.ones(3), 4)
    batch = StudentBatch(logits, targets, teacher, graph)
    expected = kd_loss(logits, teacher, targets, 2.0, 0.5) + 0.7 * relation_loss(graph, teacher,
                                                                                  2.0)
    assert torch.equal(total_loss(terms, batch), expected)
    assert torch.equal(relation_term(1.0, 2.0).fn(batch), relation_loss(graph, teacher, 2.0))


def test_total_loss_sums_weighted_terms_in_order():
    logits, targets = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    batch = StudentBatch(logits, targets)
    double = LossTerm("sum", 2.0, lambda b: b.logits.sum())
    ones = LossTerm("mean", 1.0, lambda b: b.logits.mean())
    assert torch.equal(total_loss([double, ones], batch),
                       2.0 * logits.sum() + logits.mean())
    assert torch.equal(total_loss([cross_entropy_term(0.25)], batch),
                       0.25 * F.cross_entropy(logits, targets))
    teacher = torch.randn(4, 3)
    assert torch.equal(soft_term(1.0, 3.0).fn(StudentBatch(logits, targets, teacher)),
                       soft_kl(logits, teacher, 3.0))
    with pytest.raises(ValueError, match="at least one term"):
        total_loss([], batch)
