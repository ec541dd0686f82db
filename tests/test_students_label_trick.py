"""The label trick (cnn2gnn_lib.students.label_trick): a GNN whose nodes may carry labels."""
import pytest
import torch

from cnn2gnn_lib import students, training
from cnn2gnn_lib.student_data import StudentData
from cnn2gnn_lib.study.inference import Predictor


def _model(seed=0, features=12, classes=3):
    torch.manual_seed(seed)
    gnn = students.GNNStudent(features + classes, 16, classes, s=3)
    return students.LabelInputGNN(gnn, classes).eval()


def test_labels_become_input_columns_only_where_known():
    model = _model()
    x = torch.randn(5, 12)
    labels = torch.tensor([0, 2, 1, 1, 0])
    known = torch.tensor([True, False, True, False, False])
    inputs = model.with_labels(x, labels, known)
    assert torch.equal(inputs[:, :12], x)
    expected = torch.nn.functional.one_hot(labels, 3).float() * known.unsqueeze(1)
    assert torch.equal(inputs[:, 12:], expected)
    assert torch.equal(model.with_labels(x)[:, 12:], torch.zeros(5, 3))
    soft = torch.full((5, 3), 1 / 3)
    assert torch.equal(model.with_labels(x, soft)[:, 12:], soft)
    # batch mode without labels is the GNN on zero label columns
    assert torch.allclose(model(x), model.gnn(model.with_labels(x)))


def test_known_labels_change_the_answers_of_their_neighbours():
    model = _model()
    x = torch.randn(20, 12)
    labels = torch.randint(0, 3, (20,), generator=torch.Generator().manual_seed(1))
    known = torch.arange(20) < 10
    with_labels = model(x, labels, known)
    assert not torch.allclose(with_labels[10:], model(x)[10:])  # unlabelled nodes read them


def test_anchor_mode_feeds_the_banks_labels_and_no_test_label():
    model = _model()
    bank_x = torch.randn(30, 12)
    bank_labels = torch.randint(0, 3, (30,), generator=torch.Generator().manual_seed(2))
    with pytest.raises(ValueError, match="needs its images' labels"):
        model.build_anchor_bank(bank_x)
    bank = model.build_anchor_bank(bank_x, labels=bank_labels)
    x = torch.randn(6, 12)
    together = model.predict_anchor(x, bank)
    alone = torch.cat([model.predict_anchor(x[i:i + 1], bank) for i in range(6)])
    assert torch.allclose(together, alone, atol=1e-6)  # inductive: no other test image counts
    other = model.build_anchor_bank(bank_x, labels=(bank_labels + 1) % 3)
    assert not torch.allclose(model.predict_anchor(x, other), together)  # labels are inputs
    expected = model.gnn.predict_anchor(model.with_labels(x), model.gnn.build_anchor_bank(
        model.with_labels(bank_x, bank_labels), labels=bank_labels))
    assert torch.allclose(together, expected)


def test_the_study_gives_a_label_input_student_its_bank_labels():
    data = StudentData.from_config(training.StudentConfig(train_per_class=60, val_per_class=20))
    model = students.LabelInputGNN(
        students.GNNStudent(data.in_features + data.num_classes, 16, data.num_classes, s=3),
        data.num_classes).eval()
    predictor = Predictor(model, data, 100, 64)
    anchors = data.anchor_bank(100)
    bank = predictor.bank("random")
    assert torch.equal(bank.labels, torch.nn.functional.one_hot(anchors.labels, 10).float())
    modes = [mode for mode in predictor.modes() if mode.labels != "teacher"]
    assert "anchor" in {mode.name for mode in modes}
    accuracy = predictor.accuracies(data.x_val, data.y_val, modes)
    assert 0 <= accuracy["anchor"] <= 1 and 0 <= accuracy["anchor+labels:0.5"] <= 1


def test_a_gnn_too_small_for_the_label_columns_is_refused():
    with pytest.raises(ValueError, match="no room"):
        students.LabelInputGNN(students.GNNStudent(3, 8, 3, s=2), 3)
