"""Epoch callbacks of the student loop (cnn2gnn_lib.training.callbacks)."""
import pytest
import torch

from cnn2gnn_lib import students, training
from cnn2gnn_lib.distill import distillation_terms
from cnn2gnn_lib.student_data import StudentData
from cnn2gnn_lib.training import Callback, SaveState, SparsitySchedule


@pytest.mark.parametrize("start, final, epochs, expected", [
    (2, 5, 3, [2, 5, 5]),                      # ramp of one epoch
    (1, 9, 8, [1, 3, 5, 7, 9, 9, 9, 9]),       # over the first half of the epochs
    (2, 10, 10, [2, 4, 5, 7, 8, 10, 10, 10, 10, 10]),
    (4, 4, 4, [4, 4, 4, 4])])                  # nothing to grow
def test_sparsity_grows_over_the_first_half(start, final, epochs, expected):
    schedule = SparsitySchedule(start, final, epochs)
    assert [schedule.s_at(epoch) for epoch in range(epochs)] == expected


def test_sparsity_schedule_hooks_drive_the_head():
    student = students.GNNStudent(784, 8, 10, s=5, backend="torch")
    schedule = SparsitySchedule(2, 5, 3)
    rows, selectable = [], []
    for epoch in range(3):
        schedule.on_epoch_start(student, epoch)
        assert student.head.s == student.s == schedule.s_at(epoch)
        row = {"epoch": epoch + 1}
        schedule.on_epoch_end(student, row)
        rows.append(row["s"])
        selectable.append(schedule.may_select(student))
    assert rows == [2, 5, 5]
    assert selectable == [False, True, True]  # only epochs at the final s may be kept
    schedule.on_epoch_start(student, 0)
    schedule.on_train_end(student)
    assert student.head.s == 5


@pytest.mark.parametrize("start", [0, -1, 6])
def test_a_bad_start_is_rejected(start):
    with pytest.raises(ValueError, match="s_start"):
        SparsitySchedule(start, 5, 3)


def test_save_state_hands_the_state_to_its_function():
    saved = []
    callback = SaveState(saved.append)
    state = {"epoch": 1, "model": {}}
    callback.on_state(state)
    assert saved == [state] and saved[0] is state


def test_the_base_callback_does_nothing_and_lets_every_epoch_compete():
    student = students.MLPStudent(784, 8, 10)
    callback, row = Callback(), {"epoch": 1}
    callback.on_epoch_start(student, 0)
    callback.on_epoch_end(student, row)
    callback.on_state({})
    callback.on_train_end(student)
    assert callback.may_select(student) and row == {"epoch": 1}


def test_fit_student_calls_the_hooks_in_order_and_obeys_may_select():
    """Hooks run in the documented order, ``on_epoch_end`` sees the row before validation,
    and an epoch a callback excludes is never the selected one."""
    cfg = training.StudentConfig(kind="mlp", hidden=32, epochs=3, batch_size=64,
                                 train_per_class=60, val_per_class=20)
    split = StudentData.from_config(cfg)

    class Spy(Callback):
        def __init__(self):
            self.calls, self.epoch = [], None

        def on_epoch_start(self, student, epoch):
            self.calls.append(("start", epoch))
            self.epoch = epoch

        def on_epoch_end(self, student, row):
            self.calls.append(("end", row["epoch"], "val_accuracy" in row))
            row["spied"] = self.epoch

        def may_select(self, student):
            self.calls.append(("select", self.epoch))
            return self.epoch == 0  # only the first epoch may be kept

        def on_state(self, state):
            self.calls.append(("state", state["epoch"]))
            self.last_weights = state["model"]["lin1.weight"].clone()

        def on_train_end(self, student):
            self.calls.append(("train_end",))

    spy = Spy()
    model = cfg.build(split.in_features, split.num_classes)
    state = training.fit_student(model, split, cfg, distillation_terms(), callbacks=[spy],
                                 progress=False)
    per_epoch = [[("start", e), ("end", e + 1, False), ("select", e), ("state", e + 1)]
                 for e in range(3)]
    assert spy.calls == [call for calls in per_epoch for call in calls] + [("train_end",)]
    assert [row["spied"] for row in state["history"]] == [0, 1, 2]
    assert state["best_epoch"] == 1
    assert state["best_val_accuracy"] == state["history"][0]["val_accuracy"]
    # the kept model is the first epoch's, not the last one's
    assert torch.equal(model.state_dict()["lin1.weight"], state["best_model"]["lin1.weight"])
    assert not torch.equal(model.state_dict()["lin1.weight"], spy.last_weights)
