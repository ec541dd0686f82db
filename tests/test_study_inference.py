import pytest
import torch

from cnn2gnn_lib import training
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


def test_an_mlp_has_only_batch_mode(split):
    mlp = MLPStudent(split.in_features, 8, split.num_classes)
    assert modes_of(mlp) == [BATCH]
    predictor = Predictor(mlp, split, 20, 32)
    assert set(predictor.accuracies(split.x_val, split.y_val)) == {"batch"}
    with pytest.raises(ValueError, match="has no 'anchor' mode"):
        predictor.logits(ANCHOR, split.x_val)


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
