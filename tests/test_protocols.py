"""Tests of cnn2gnn_lib.protocols: how test batches are formed, and what that changes."""
import warnings

import numpy as np
import pytest
import torch

from cnn2gnn_lib import data, protocols as P, students as S


@pytest.fixture(scope="module")
def test_set(fmnist_test):
    """600 real Fashion-MNIST test images (60 per class) in the dataset's own order."""
    subset = data.balanced_subset(fmnist_test, 60, seed=2)
    return data.flat_features(subset), subset.targets


def _covers_once(batches, n):
    joined = torch.cat(batches)
    return len(joined) == n and torch.equal(joined.sort().values, torch.arange(n))


def test_a_protocol_validates_and_names_itself():
    assert P.Protocol().name == "shuffled" and P.Protocol().batch_size == 256
    assert P.dirichlet(0.5, 128).name == "dirichlet(0.5)"
    assert P.Protocol(context=64).name == "shuffled+context 64"
    text = P.dirichlet(2, 512, seed=3).describe()
    assert "Dirichlet(a=2)" in text and "512" in text and "seed 3" in text
    assert "transductive" in text and "inductive" in P.describe_anchor(500, "kmeans")
    assert "k-means" in P.describe_anchor(500, "kmeans")
    for bad, match in [(dict(order="sorted"), "unknown test order 'sorted'"),
                       (dict(batch_size=1), "batch_size must be >= 2"),
                       (dict(order="dirichlet"), "Dirichlet concentration"),
                       (dict(concentration=1.0), "Dirichlet concentration"),
                       (dict(order="dirichlet", concentration=0.0), "must be > 0"),
                       (dict(context=-1), "context must be >= 0")]:
        with pytest.raises(ValueError, match=match):
            P.Protocol(**bad)


def test_shuffled_is_a_seeded_permutation(test_set):
    _, y = test_set
    one = P.plan_batches(y, P.Protocol(batch_size=100, seed=4))
    again = P.plan_batches(None, P.Protocol(batch_size=100, seed=4), n=len(y))
    other = P.plan_batches(y, P.Protocol(batch_size=100, seed=5))
    assert [len(b) for b in one] == [100] * 6 and _covers_once(one, len(y))
    assert all(torch.equal(a, b) for a, b in zip(one, again))
    assert not torch.equal(torch.cat(one), torch.cat(other))
    assert not torch.equal(torch.cat(one), torch.arange(len(y)))


def test_class_sorted_batches_are_pure_where_class_sizes_allow(test_set):
    _, y = test_set
    batches = P.plan_batches(y, P.Protocol("class-sorted", batch_size=30))
    assert _covers_once(batches, len(y))
    assert all(len(torch.unique(y[b])) == 1 for b in batches)  # 60 per class, 30 per batch
    mixed = P.plan_batches(y, P.Protocol("class-sorted", batch_size=45))
    assert max(len(torch.unique(y[b])) for b in mixed) == 2  # 45 does not divide 60


def test_dirichlet_batches_follow_their_draws(test_set):
    _, y = test_set
    classes = torch.arange(10).repeat_interleave(1000)  # plenty per class: no class runs out
    batches, draws = P.dirichlet_batches(classes, 200, 0.5, seed=1)
    assert _covers_once(batches, len(classes)) and len(batches) == len(draws) == 50
    for batch, shares in list(zip(batches, draws))[:10]:
        counts = torch.bincount(classes[batch], minlength=10).numpy()
        assert counts.sum() == 200
        assert np.abs(counts - shares * 200).max() < 1.0 + 1e-9  # rounding only
    assert np.isclose(np.mean([d.max() for d in draws]), 0.5, atol=0.2)  # a = 0.5: peaked
    balanced, draws_10 = P.dirichlet_batches(classes, 200, 10.0, seed=1)
    assert np.mean([d.max() for d in draws_10]) < 0.25  # a = 10: close to uniform
    again, _ = P.dirichlet_batches(classes, 200, 0.5, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    real = P.plan_batches(y, P.dirichlet(0.5, 64))  # real labels: classes run out at the end
    assert _covers_once(real, len(y))


def test_dataset_order_warns_only_when_sorted_by_class(test_set):
    _, y = test_set
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P.plan_batches(y, P.Protocol("dataset", 100))  # Fashion-MNIST's own order: mixed
        P.plan_batches(torch.sort(y).values, P.Protocol("class-sorted", 100))  # asked for
    with pytest.warns(P.ClassSortedWarning, match="sorted by class: 98% of neighbouring"):
        batches = P.plan_batches(torch.sort(y).values, P.Protocol("dataset", 100))
    assert torch.equal(torch.cat(batches), torch.arange(len(y)))
    assert P.looks_class_sorted(torch.sort(y).values) and not P.looks_class_sorted(y)
    assert P.chance_agreement(y) == pytest.approx(0.1)


def test_labels_are_required_where_the_protocol_uses_them():
    with pytest.raises(ValueError, match="'class-sorted' protocol needs the test labels"):
        P.plan_batches(None, P.Protocol("class-sorted"), n=10)
    with pytest.raises(ValueError, match="needs the labels or the number"):
        P.plan_batches(None, P.Protocol())
    with pytest.raises(ValueError, match="3 labels for 4 test images"):
        P.plan_batches(torch.zeros(3, dtype=torch.long), P.Protocol(), n=4)


def test_predict_returns_rows_in_input_order_and_depends_on_the_batching(test_set):
    x, y = test_set
    torch.manual_seed(0)
    gnn = S.GNNStudent(784, 32, 10, s=5, backend="torch")
    protocol = P.Protocol(batch_size=100, seed=7)
    logits = P.predict(gnn, x, y, protocol)
    assert gnn.training  # the mode is restored
    with torch.no_grad(), S.evaluating(gnn):
        for rows in P.plan_batches(y, protocol, minimum=gnn.min_batch):
            assert torch.allclose(logits[rows], gnn(x[rows]), atol=1e-5)
    sorted_logits = P.predict(gnn, x, y, P.Protocol("class-sorted", 100))
    assert not torch.allclose(logits, sorted_logits, atol=1e-3)  # the graph saw other images
    mlp = S.MLPStudent(784, 32, 10)
    with torch.no_grad():
        alone = mlp.eval()(x)
    for protocol in (P.Protocol(batch_size=50), P.Protocol("class-sorted", 50),
                     P.dirichlet(0.5, 50)):
        assert torch.allclose(P.predict(mlp, x, y, protocol), alone, atol=1e-5)


def test_anchor_predictions_do_not_depend_on_the_other_test_images(test_set):
    x, _ = test_set
    torch.manual_seed(0)
    gnn = S.GNNStudent(784, 32, 10, s=5, backend="torch")
    bank = gnn.build_anchor_bank(x[300:])
    full = gnn.predict_anchor(x[:300], bank)
    assert torch.allclose(gnn.predict_anchor(x[:7], bank), full[:7], atol=1e-5)
    assert torch.allclose(gnn.predict_anchor(x[100:300:3], bank), full[100:300:3], atol=1e-5)


def test_context_joins_training_images_to_every_batch(test_set):
    x, y = test_set
    torch.manual_seed(0)
    gnn = S.GNNStudent(784, 32, 10, s=5, backend="torch")
    protocol = P.Protocol(batch_size=100, context=40)
    train_x = x[:200] + 0.1  # stands in for training images
    logits = P.predict(gnn, x, y, protocol, context=train_x)
    assert logits.shape == (600, 10)
    assert not torch.allclose(logits, P.predict(gnn, x, y, protocol.replace(context=0)),
                              atol=1e-3)
    with pytest.raises(ValueError, match="joins 40 labelled training images to every batch, "
                                         "but 0 were given"):
        P.predict(gnn, x, y, protocol)
    with pytest.raises(ValueError, match="but 10 were given"):
        P.predict(gnn, x, y, protocol, context=train_x[:10])


def test_batch_homophily_rises_when_batches_are_sorted_by_class(test_set):
    x, y = test_set
    torch.manual_seed(0)
    knn = S.GNNStudent(784, 32, 10, s=5, graph="knn", backend="torch")
    shuffled = P.batch_homophily(knn, x, y, P.Protocol(batch_size=60))
    pure = P.batch_homophily(knn, x, y, P.Protocol("class-sorted", batch_size=60))
    assert pure == pytest.approx(1.0) and shuffled < 0.9
    with pytest.raises(ValueError, match="MLPStudent builds no graph"):
        P.batch_homophily(S.MLPStudent(784, 8, 10), x, y)


def test_a_grid_of_protocols_evaluated_at_once(test_set):
    x, y = test_set
    grid = P.protocol_grid((32, 100), (0.5, 10.0))
    assert [rule.name for rule in grid[::2]] == [
        "shuffled", "class-sorted", "dirichlet(0.5)", "dirichlet(10)", "shuffled+context 32"]
    assert [rule.batch_size for rule in grid[:2]] == [32, 100]
    assert len(P.protocol_grid((32,), (), context=False)) == 2
    torch.manual_seed(0)
    gnn = S.GNNStudent(784, 32, 10, s=5, backend="torch")
    rows = P.evaluate_grid(gnn, x, y, grid, context=x[:200])
    assert [row["protocol"] for row in rows] == [rule.name for rule in grid]
    for row, rule in zip(rows, grid):
        assert 0 <= row["accuracy"] <= 1 and row["description"] == rule.describe()
        assert ("homophily" in row) == (rule.context == 0)
    logits = P.predict(gnn, x, y, grid[3])
    assert rows[3]["accuracy"] == (logits.argmax(1) == y).float().mean().item()
