import pytest
import torch

from cnn2gnn_lib import training
from cnn2gnn_lib.graph import make_head
from cnn2gnn_lib.student_data import StudentData
from cnn2gnn_lib.students import GNNStudent, MLPStudent
from cnn2gnn_lib.study.inference import (ANCHOR, ANCHOR_KMEANS, BATCH, LABEL_WEIGHTS, MODES,
                                         Predictor, label_vote, modes_of)

CFG = training.StudentConfig(hidden=16, s=4, train_per_class=40, val_per_class=10)


@pytest.fixture(scope="module")
def split():
    return StudentData.from_config(CFG)


@pytest.fixture(scope="module")
def gnn(split):
    torch.manual_seed(0)
    return GNNStudent(split.in_features, 16, split.num_classes, s=4, backend="torch")


def test_the_mode_table():
    assert list(MODES)[:2] == ["batch", "anchor"] and list(MODES)[-1] == "anchor-kmeans"
    assert len(MODES) == 3 + 2 * len(LABEL_WEIGHTS)
    assert MODES["anchor+labels:0.5"] == label_vote(0.5)
    assert label_vote(0.25, teacher=True).labels == "teacher"
    assert BATCH.kind == "batch" and ANCHOR.kind == ANCHOR_KMEANS.kind == "anchor"
    assert label_vote(0.5).kind == label_vote(0.5, teacher=True).kind == "vote"


def test_an_mlp_has_batch_mode_and_label_votes_with_a_vote_head(split):
    torch.manual_seed(0)
    mlp = MLPStudent(split.in_features, 8, split.num_classes)
    assert modes_of(mlp) == [BATCH] + [m for m in MODES.values() if m.kind == "vote"]
    alone = Predictor(mlp, split, 20, 32)
    assert alone.modes() == [BATCH]
    assert set(alone.accuracies(split.x_val, split.y_val)) == {"batch"}
    with pytest.raises(ValueError, match="has no 'anchor' mode"):
        alone.logits(ANCHOR, split.x_val)
    with pytest.raises(ValueError, match="need a vote_head"):
        alone.logits(label_vote(0.5), split.x_val)
    # one neighbour, weight 1: the vote is the label of the nearest bank image in hidden space
    helped = Predictor(mlp, split, 20, 32, vote_head=make_head("knn", 1))
    anchors = split.anchor_bank(20)
    with torch.no_grad():
        nearest = torch.cdist(mlp.hidden(split.x_val), mlp.hidden(anchors.features)).argmin(1)
    votes = helped.logits(label_vote(1.0), split.x_val)
    assert torch.equal(votes.argmax(1), anchors.labels[nearest])
    # weight 0.5 mixes that vote with the MLP's own probabilities
    mixed = helped.logits(label_vote(0.5), split.x_val).exp()
    own = mlp.eval()(split.x_val).softmax(1)
    assert torch.allclose(mixed, 0.5 * own + 0.5 * votes.exp(), atol=1e-5)
    assert torch.equal(helped.logits(BATCH, split.x_val), mlp(split.x_val))
    with pytest.raises(ValueError, match="label_weight must be in"):
        mlp.predict_anchor(split.x_val, helped.bank("random", "true"), label_weight=1.5)


def test_anchor_modes_use_banks_from_the_training_images(split, gnn):
    predictor = Predictor(gnn, split, 20, 32, teacher_logits=torch.randn(len(split.pool), 10))
    anchors = split.anchor_bank(20)
    expected = gnn.predict_anchor(split.x_val, gnn.build_anchor_bank(anchors.features))
    assert torch.equal(predictor.logits(ANCHOR, split.x_val), expected)
    assert predictor.bank().size == 20 and predictor.bank() is predictor.bank()  # built once
    kmeans = predictor.logits(ANCHOR_KMEANS, split.x_val)
    assert kmeans.shape == expected.shape and not torch.equal(kmeans, expected)
    # a label vote of weight 1 is the graph-weighted vote of the anchors' labels: a distribution
    votes = predictor.logits(label_vote(1.0), split.x_val).exp()
    assert torch.allclose(votes.sum(1), torch.ones(len(votes)), atol=1e-5)
    accuracies = predictor.accuracies(split.x_val, split.y_val)
    assert list(accuracies) == list(MODES) and all(0 <= v <= 1 for v in accuracies.values())


def test_teacher_label_modes_need_the_teachers_logits(split, gnn):
    predictor = Predictor(gnn, split, 20, 32)
    with pytest.raises(ValueError, match="teacher's logits"):
        predictor.logits(label_vote(0.5, teacher=True), split.x_val)
