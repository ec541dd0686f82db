import pytest
import torch

from cnn2gnn_lib import data, students, training

TINY = dict(hidden=32, epochs=3, batch_size=64, train_per_class=60, val_per_class=20, s=5)


def _cfg(**overrides):
    return training.StudentConfig(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def teacher_logits(tmp_path_factory):
    """Logits of a quickly trained teacher on the whole training split (cached once)."""
    out = tmp_path_factory.mktemp("teacher")
    cfg = training.TeacherConfig(epochs=1, train_per_class=100, test_per_class=10)
    teacher = training.train_teacher(cfg, "cpu", out, progress=False)
    train = data.load_dataset("fashion-mnist", "train")
    return training.cache_teacher_logits(teacher, train, out, progress=False), cfg.name()


@pytest.mark.parametrize("kind", ["mlp", "gnn-learned", "gnn-knn"])
def test_students_learn_and_select_on_validation(kind, tmp_path):
    result = training.train_student(_cfg(kind=kind, epochs=5), out_dir=tmp_path, progress=False)
    history = result.history
    best = max(range(len(history)), key=lambda i: history[i]["val_accuracy"])
    assert result.metrics["best_epoch"] == best + 1
    assert result.metrics["val_accuracy"] == history[best]["val_accuracy"]
    assert result.metrics["val_accuracy"] > 0.4  # chance is 0.1
    assert result.metrics["train_images"] == 400 and result.metrics["val_images"] == 200


def test_distillation_uses_the_cached_teacher_logits(tmp_path, teacher_logits, monkeypatch):
    logits, teacher_name = teacher_logits
    calls = []
    from cnn2gnn_lib import distill

    real = distill.kd_loss
    monkeypatch.setattr(distill, "kd_loss", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    cfg = _cfg(alpha=0.5, temperature=4.0, teacher=teacher_name)
    result = training.train_student(cfg, logits, out_dir=tmp_path, progress=False)
    assert result.metrics["val_accuracy"] > 0.3  # a one-epoch teacher: plumbing, not quality
    assert calls and all(batch.shape[1] == 10 for batch in calls)
    # the rows handed to the loss are the teacher's logits of the training images, in order
    train, _ = training.student_data(cfg)
    assert any(torch.equal(batch[0], row) for batch in calls[:1] for row in logits[train.indices])


def test_distillation_needs_matching_logits(tmp_path, teacher_logits):
    logits, name = teacher_logits
    with pytest.raises(ValueError, match="needs a teacher"):
        training.StudentConfig(alpha=0.5)
    pool = training.student_pool(_cfg(alpha=0.5, teacher=name))
    from_pool = training.train_student(_cfg(alpha=0.5, teacher=name), logits[pool.indices],
                                       out_dir=tmp_path / "pool", progress=False)
    from_full = training.train_student(_cfg(alpha=0.5, teacher=name), logits,
                                       out_dir=tmp_path / "full", progress=False)
    assert from_pool.metrics["val_accuracy"] == from_full.metrics["val_accuracy"]
    with pytest.raises(ValueError, match="whole training split"):
        training.train_student(_cfg(alpha=0.5, teacher=name), logits[:100], out_dir=tmp_path,
                               progress=False)


def test_student_checkpoint_round_trip_and_reuse(tmp_path):
    cfg = _cfg(kind="gnn-learned")
    trained = training.train_student(cfg, out_dir=tmp_path, progress=False)
    loaded = training.student_train_or_load(cfg, out_dir=tmp_path, progress=False)
    assert loaded.loaded and loaded.metrics == trained.metrics
    _, val = training.student_data(cfg)
    x = data.flat_features(val)
    assert torch.equal(students.predict_batches(trained.model, x, 64),
                       students.predict_batches(loaded.model, x, 64))


def test_interrupted_student_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    cfg = _cfg(kind="gnn-learned")
    reference = training.train_student(cfg, out_dir=tmp_path / "ref", progress=False)
    real, calls = students.predict_batches, []

    def crash_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(students, "predict_batches", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        training.train_student(cfg, out_dir=tmp_path / "run", progress=False)
    monkeypatch.setattr(students, "predict_batches", real)
    final, partial = training.student_checkpoint_paths(cfg, tmp_path / "run")
    assert partial.is_file() and not final.is_file()
    resumed = training.student_train_or_load(cfg, out_dir=tmp_path / "run", progress=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_student_config_is_checked():
    with pytest.raises(ValueError, match="unknown student kind"):
        training.StudentConfig(kind="cnn")
    with pytest.raises(ValueError, match="alpha"):
        training.StudentConfig(alpha=2.0, teacher="x")
    assert _cfg().key() != _cfg(seed=1).key()
    assert "kd0.5T2" in _cfg(alpha=0.5, temperature=2.0, teacher="t").name()


# -- design options of training ------------------------------------------------------------

def test_new_options_leave_earlier_run_names_unchanged():
    """Options at their defaults are not part of a configuration's key: the checkpoints of
    runs made before an option existed keep their names."""
    cfg = _cfg(kind="gnn-learned")
    assert "graph_layers" not in cfg.to_dict() and "augment_views" not in cfg.to_dict()
    assert _cfg(kind="gnn-learned", graph_layers="second").key() != cfg.key()
    assert training.StudentConfig(**cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="graph students only"):
        _cfg(kind="mlp", graph_layers="second")
    with pytest.raises(ValueError, match="needs a teacher"):
        _cfg(kind="gnn-learned", relation_weight=1.0)
    with pytest.raises(ValueError, match="augment_views"):
        _cfg(augment_views=-1)


def test_design_options_train_and_round_trip(tmp_path, teacher_logits):
    logits, name = teacher_logits
    cfg = _cfg(kind="gnn-learned", graph_layers="second", graph_space="hidden", self_weight=0.8,
               relation_weight=0.5, alpha=0.5, teacher=name, s_start=2, batch_classes=3)
    trained = training.train_student(cfg, logits, out_dir=tmp_path, progress=False)
    assert [row["s"] for row in trained.history] == [2, 5, 5]  # grown over half the epochs
    assert trained.metrics["best_epoch"] >= 2  # only epochs at the final s compete
    assert trained.model.s == 5 and trained.metrics["val_accuracy"] > 0.3
    loaded = training.student_train_or_load(cfg, out_dir=tmp_path, progress=False)
    assert loaded.loaded and loaded.model.graph_space == "hidden"
    _, val = training.student_data(cfg)
    x = data.flat_features(val)
    assert torch.equal(students.predict_batches(trained.model, x, 64),
                       students.predict_batches(loaded.model, x, 64))


def test_class_composed_batches_hold_few_classes(monkeypatch):
    seen = []
    model = students.GNNStudent(784, 16, 10, s=3, backend="torch")
    real_forward = students.GNNStudent.forward

    def spy(self, x, *args, **kwargs):
        if self.training:
            seen.append(x)
        return real_forward(self, x, *args, **kwargs)

    monkeypatch.setattr(students.GNNStudent, "forward", spy)
    x = torch.randn(300, 784)
    y = torch.arange(10).repeat(30)
    lookup = {tuple(row[:4].tolist()): int(label) for row, label in zip(x, y)}
    training.fit_student(model, x, y, 1, batch_size=40, batch_classes=2, progress=False)
    assert sum(len(batch) for batch in seen) == 300
    for batch in seen:
        assert len({lookup[tuple(row[:4].tolist())] for row in batch}) <= 2
    with pytest.raises(ValueError, match="batch_classes"):
        training.fit_student(model, x, y, 1, batch_classes=11, progress=False)
    with pytest.raises(ValueError, match="graph students only"):
        training.fit_student(students.MLPStudent(784, 8, 10), x, y, 1, s_start=2,
                             progress=False)


def test_consistent_distillation_trains_on_augmented_views(tmp_path, teacher_logits):
    """With augment_views the student trains on its images plus fixed augmented copies, and
    needs the teacher's logits on exactly those copies."""
    logits, name = teacher_logits
    cfg = _cfg(alpha=0.5, teacher=name, augment_views=2)
    train = training.student_train_set(cfg)
    assert len(train) == 3 * 400 and train.split.startswith("train+2views")
    with pytest.raises(ValueError, match="augmented training set"):
        training.train_student(cfg, logits, out_dir=tmp_path, progress=False)
    views_logits = torch.randn(len(train), 10)
    result = training.train_student(cfg, views_logits, out_dir=tmp_path, progress=False)
    assert result.metrics["train_images"] == 1200 and result.metrics["val_images"] == 200
