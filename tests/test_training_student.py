"""Student training (cnn2gnn_lib.training.student): the loop, distillation plumbing, runs."""
import pytest
import torch

from cnn2gnn_lib import data, students, training
from cnn2gnn_lib.distill import LossTerm, cross_entropy_term, distillation_terms
from cnn2gnn_lib.student_data import StudentData
from cnn2gnn_lib.training import student as student_module

TINY = dict(hidden=32, epochs=3, batch_size=64, train_per_class=60, val_per_class=20, s=5)


def _cfg(**overrides):
    return training.StudentConfig(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def tiny_data():
    """The data of the tiny configurations (they all share pool, split and views)."""
    return StudentData.from_config(_cfg())


@pytest.fixture(scope="module")
def teacher_logits(tmp_path_factory, tiny_data):
    """Logits of a quickly trained teacher "on the whole training split": its real logits on
    the students' pool, and noise for every other image (which no student may read)."""
    out = tmp_path_factory.mktemp("teacher")
    cfg = training.TeacherConfig(epochs=1, train_per_class=100, test_per_class=10)
    teacher = training.train_teacher(cfg, "cpu", out, progress=False)
    on_pool = training.cache_teacher_logits(teacher, tiny_data.pool, out, progress=False)
    full = torch.randn(tiny_data.full_train_size, 10, generator=torch.Generator().manual_seed(0))
    full[tiny_data.pool.indices] = on_pool
    return full, cfg.name()


def _recorder():
    """A loss term that adds nothing and records what each batch hands the loss."""
    batches = []

    def record(batch):
        batches.append((batch.teacher_logits, batch.targets))
        return batch.logits.new_zeros(())

    return LossTerm("recorder", 1.0, record, needs_teacher=True), batches


def _without_seconds(row):
    return {k: v for k, v in row.items() if k != "seconds"}


@pytest.mark.parametrize("kind", ["mlp", "gnn-learned", "gnn-knn"])
def test_students_learn_and_select_on_validation(kind, tmp_path):
    result = training.train_student(_cfg(kind=kind, epochs=5), out_dir=tmp_path, progress=False)
    history = result.history
    best = max(range(len(history)), key=lambda i: history[i]["val_accuracy"])
    assert result.metrics["best_epoch"] == best + 1
    assert result.metrics["val_accuracy"] == history[best]["val_accuracy"]
    assert result.metrics["val_accuracy"] > 0.4  # chance is 0.1
    assert result.metrics["train_images"] == 400 and result.metrics["val_images"] == 200


def test_teacher_rows_are_the_logits_of_the_training_images_in_order(tiny_data, teacher_logits):
    logits, _ = teacher_logits
    expected = logits[tiny_data.train_images.indices]
    assert torch.equal(tiny_data.teacher_rows(logits), expected)
    # logits cached on the pool give the same rows
    assert torch.equal(tiny_data.teacher_rows(logits[tiny_data.pool.indices]), expected)
    with pytest.raises(ValueError, match="whole training split"):
        tiny_data.teacher_rows(None)


def test_fit_student_hands_each_batch_its_own_teacher_rows(tiny_data):
    """Teacher logits that encode their row number reach the loss beside that row's label."""
    n = len(tiny_data.y_train)
    teacher = torch.arange(n, dtype=torch.float32).unsqueeze(1).repeat(1, 10)
    recorder, recorded = _recorder()
    cfg = _cfg(kind="mlp", epochs=2, batch_classes=2)
    model = cfg.build(tiny_data.in_features, tiny_data.num_classes)
    fit = training.fit_student(model, tiny_data, cfg, [cross_entropy_term(), recorder], teacher,
                               progress=False)
    assert [row["epoch"] for row in fit["history"]] == [1, 2]
    batches = len(recorded) // 2  # 5 pairs of classes, 80 images each: 2 batches a pair
    assert batches == 10
    for epoch in (recorded[:batches], recorded[batches:]):
        rows = torch.cat([t[:, 0].long() for t, _ in epoch])
        assert torch.equal(rows.sort().values, torch.arange(n))  # every row once an epoch
        for t, targets in epoch:
            assert torch.equal(targets, tiny_data.y_train[t[:, 0].long()])
            assert len(targets.unique()) <= 2  # class-composed batches reach the loop
    assert not torch.equal(torch.cat([t[:, 0] for t, _ in recorded[:batches]]),
                           torch.arange(n, dtype=torch.float32))  # shuffled


def test_fit_student_checks_what_the_terms_need(tiny_data):
    cfg = _cfg(kind="mlp", epochs=1)
    mlp = cfg.build(tiny_data.in_features, tiny_data.num_classes)
    with pytest.raises(ValueError, match="one row per training image"):
        training.fit_student(mlp, tiny_data, cfg, distillation_terms(0.5), None, progress=False)
    with pytest.raises(ValueError, match="one row per training image"):
        training.fit_student(mlp, tiny_data, cfg, distillation_terms(0.5), torch.zeros(5, 10),
                             progress=False)
    rows = torch.zeros(len(tiny_data.y_train), 10)
    for kind in ("mlp", "gnn-knn"):
        model = _cfg(kind=kind).build(tiny_data.in_features, tiny_data.num_classes)
        with pytest.raises(ValueError, match="learned graph"):
            training.fit_student(model, tiny_data, cfg, distillation_terms(0.5, 4.0, 1.0), rows,
                                 progress=False)


def test_distillation_uses_the_cached_teacher_logits(tmp_path, teacher_logits, tiny_data,
                                                     monkeypatch):
    logits, teacher_name = teacher_logits
    cfg = _cfg(alpha=0.5, temperature=4.0, teacher=teacher_name)
    recorder, recorded = _recorder()
    real_terms = training.StudentConfig.loss_terms
    monkeypatch.setattr(training.StudentConfig, "loss_terms",
                        lambda self: real_terms(self) + [recorder])
    result = training.train_student(cfg, logits, out_dir=tmp_path, progress=False)
    assert result.metrics["val_accuracy"] > 0.3  # a one-epoch teacher: plumbing, not quality
    assert recorded and all(t.shape[1] == 10 for t, _ in recorded)
    # the rows handed to the loss are the teacher's logits of the training images, in order:
    # each batch's rows are rows of the training images' logits, beside those images' labels,
    # and every training image is seen once an epoch
    expected = logits[tiny_data.train_images.indices]
    seen = torch.zeros(len(expected), dtype=torch.long)
    for teacher, targets in recorded:
        match = (teacher.unsqueeze(1) == expected.unsqueeze(0)).all(2)
        assert (match.sum(1) == 1).all()
        rows = match.float().argmax(1)
        assert torch.equal(targets, tiny_data.y_train[rows])
        seen += torch.bincount(rows, minlength=len(expected))
    assert (seen == cfg.epochs).all()


def test_distillation_needs_matching_logits(tmp_path, teacher_logits, tiny_data):
    logits, name = teacher_logits
    with pytest.raises(ValueError, match="needs a teacher"):
        training.StudentConfig(alpha=0.5)
    cfg = _cfg(alpha=0.5, teacher=name)
    pool = StudentData.from_config(cfg).pool
    from_pool = training.train_student(cfg, logits[pool.indices], out_dir=tmp_path / "pool",
                                       progress=False)
    from_full = training.train_student(cfg, logits, out_dir=tmp_path / "full", progress=False,
                                       student_data=tiny_data)
    assert from_pool.metrics["val_accuracy"] == from_full.metrics["val_accuracy"]
    for key, tensor in from_pool.model.state_dict().items():
        assert torch.equal(tensor, from_full.model.state_dict()[key]), key
    with pytest.raises(ValueError, match="whole training split"):
        training.train_student(cfg, logits[:100], out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="whole training split"):
        training.train_student(cfg, None, out_dir=tmp_path, progress=False)


def test_student_checkpoint_round_trip_and_reuse(tmp_path, tiny_data, monkeypatch):
    cfg = _cfg(kind="gnn-learned")
    trained = training.train_student(cfg, out_dir=tmp_path, progress=False)
    monkeypatch.setattr(student_module, "train_student",
                        lambda *a, **k: pytest.fail("retrained a finished run"))
    loaded = training.student_train_or_load(cfg, out_dir=tmp_path, progress=False)
    assert loaded.loaded and loaded.metrics == trained.metrics
    assert loaded.config == cfg and loaded.history == trained.history
    x = tiny_data.x_val
    assert torch.equal(students.predict_batches(trained.model, x, 64),
                       students.predict_batches(loaded.model, x, 64))
    direct = training.load_student(trained.path)
    assert direct.loaded and direct.metrics == trained.metrics


def test_interrupted_student_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    cfg = _cfg(kind="gnn-learned")
    reference = training.train_student(cfg, out_dir=tmp_path / "ref", progress=False)
    real, calls = student_module.predict_batches, []

    def crash_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(student_module, "predict_batches", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        training.train_student(cfg, out_dir=tmp_path / "run", progress=False)
    monkeypatch.setattr(student_module, "predict_batches", real)
    assert len(calls) == 2  # the patched name is the one the loop calls
    final, partial = training.student_checkpoint_paths(cfg, tmp_path / "run")
    assert partial.is_file() and not final.is_file()
    resumed = training.student_train_or_load(cfg, out_dir=tmp_path / "run", progress=False)
    assert final.is_file() and not partial.is_file()
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert list(map(_without_seconds, resumed.history)) == list(map(_without_seconds,
                                                                     reference.history))
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_student_config_is_checked():
    with pytest.raises(ValueError, match="unknown student kind"):
        training.StudentConfig(kind="cnn")
    with pytest.raises(ValueError, match="alpha"):
        training.StudentConfig(alpha=2.0, teacher="x")
    with pytest.raises(ValueError, match="epochs"):
        training.StudentConfig(epochs=0)
    assert _cfg().key() != _cfg(seed=1).key()
    assert "kd0.5T2" in _cfg(alpha=0.5, temperature=2.0, teacher="t").name()
    assert not _cfg().needs_teacher and _cfg(alpha=0.5, teacher="t").needs_teacher
    assert [t.name for t in _cfg().loss_terms()] == ["ce"]
    assert [t.name for t in _cfg(alpha=0.5, teacher="t", relation_weight=0.2).loss_terms()] == [
        "ce", "kd", "relation"]
    assert _cfg(s=7, graph_layers="second").design() == students.GraphDesign(
        graph="learned", s=7, graph_layers="second")
    with pytest.raises(ValueError, match="no graph design"):
        _cfg(kind="mlp").design()
    assert isinstance(_cfg(kind="mlp").build(784, 10), students.MLPStudent)
    built = _cfg(kind="gnn-knn").build(784, 10)
    assert isinstance(built, students.GNNStudent) and built.s == 5


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
    with pytest.raises(ValueError, match="graph students only"):
        _cfg(kind="mlp", s_start=2)
    with pytest.raises(ValueError, match="needs a teacher"):
        _cfg(kind="gnn-learned", relation_weight=1.0)
    with pytest.raises(ValueError, match="learned graph"):
        _cfg(kind="gnn-knn", relation_weight=1.0, teacher="t")
    with pytest.raises(ValueError, match="s_start"):
        _cfg(s_start=6)
    with pytest.raises(ValueError, match="augment_views"):
        _cfg(augment_views=-1)


def test_design_options_train_and_round_trip(tmp_path, teacher_logits, tiny_data):
    logits, name = teacher_logits
    cfg = _cfg(kind="gnn-learned", graph_layers="second", graph_space="hidden", self_weight=0.8,
               relation_weight=0.5, alpha=0.5, teacher=name, s_start=2, batch_classes=3)
    trained = training.train_student(cfg, logits, out_dir=tmp_path, progress=False)
    assert [row["s"] for row in trained.history] == [2, 5, 5]  # grown over half the epochs
    assert trained.metrics["best_epoch"] >= 2  # only epochs at the final s compete
    assert trained.model.s == 5 and trained.metrics["val_accuracy"] > 0.3
    loaded = training.student_train_or_load(cfg, out_dir=tmp_path, progress=False)
    assert loaded.loaded and loaded.model.design.graph_space == "hidden"
    x = tiny_data.x_val
    assert torch.equal(students.predict_batches(trained.model, x, 64),
                       students.predict_batches(loaded.model, x, 64))


def test_class_composed_batches_hold_few_classes(tiny_data):
    labels = tiny_data.y_train  # real labels: 40 images of each of 10 classes, shuffled

    def batches(seed, **kwargs):
        return training.epoch_batches(labels, 40, 7, torch.Generator().manual_seed(seed),
                                      **kwargs)

    for kwargs in (dict(classes_per_batch=2, num_classes=10), dict(classes_per_batch=3), {}):
        epoch = batches(0, **kwargs)
        assert torch.equal(torch.cat(epoch).sort().values, torch.arange(len(labels)))
        assert all(7 <= len(rows) <= 40 + 6 for rows in epoch)
        if kwargs:
            assert all(len(labels[rows].unique()) <= kwargs["classes_per_batch"]
                       for rows in epoch)
        assert all(torch.equal(a, b) for a, b in zip(epoch, batches(0, **kwargs)))
        assert not all(torch.equal(a, b) for a, b in zip(epoch, batches(1, **kwargs)))
    # without class composition, the batches of a shuffle mix classes
    assert max(len(labels[rows].unique()) for rows in batches(0)) > 3
    # 5 pairs of classes of 80 images each give 2 batches of 40 a pair
    assert len(batches(0, classes_per_batch=2)) == 10
    with pytest.raises(ValueError, match="batch_classes"):
        batches(0, classes_per_batch=11, num_classes=10)
    with pytest.raises(ValueError, match="batch_classes"):
        batches(0, classes_per_batch=0)
    with pytest.raises(ValueError, match="batch_classes"):
        training.StudentConfig(batch_classes=11)


def test_consistent_distillation_trains_on_augmented_views(tmp_path, teacher_logits):
    """With augment_views the student trains on its images plus fixed augmented copies, and
    needs the teacher's logits on exactly those copies."""
    logits, name = teacher_logits
    cfg = _cfg(alpha=0.5, teacher=name, augment_views=2)
    split = StudentData.from_config(cfg)
    train = split.train
    assert len(train) == 3 * 400 and train.split.startswith("train+2views")
    assert split.augmented and len(split.train_images) == 400 and len(split.y_train) == 1200
    with pytest.raises(ValueError, match="augmented training set"):
        training.train_student(cfg, logits, out_dir=tmp_path, progress=False, student_data=split)
    views_logits = torch.randn(len(train), 10)
    assert split.teacher_rows(views_logits) is views_logits
    result = training.train_student(cfg, views_logits, out_dir=tmp_path, progress=False,
                                    student_data=split)
    assert result.metrics["train_images"] == 1200 and result.metrics["val_images"] == 200


# -- patient distillation and the label trick ------------------------------------------------

def test_patient_config_is_checked():
    with pytest.raises(ValueError, match="needs a teacher"):
        _cfg(patient_views=2)
    with pytest.raises(ValueError, match="set patient_views > 0"):
        _cfg(alpha=1.0, teacher="t", mixup=0.5)
    with pytest.raises(ValueError, match="mixup > 0 needs alpha = 1"):
        _cfg(alpha=0.5, teacher="t", patient_views=2, mixup=0.5)
    with pytest.raises(ValueError, match="choose one"):
        _cfg(alpha=0.5, teacher="t", patient_views=2, augment_views=1)
    with pytest.raises(ValueError, match="patient_views must be >= 0"):
        _cfg(patient_views=-1)
    cfg = _cfg(alpha=1.0, teacher="t", patient_views=4, mixup=0.4)
    assert cfg.key() != _cfg(alpha=1.0, teacher="t", patient_views=4).key()
    assert "patient_views" not in _cfg().to_dict() and "label_trick" not in _cfg().to_dict()


def test_a_patient_batch_is_one_view_per_image_with_the_teacher_on_that_view():
    cfg = _cfg(kind="mlp", alpha=1.0, teacher="t", patient_views=3, mixup=0.5)
    split = StudentData.from_config(cfg)
    n = len(split.train_images)
    assert split.view_plan.views == 3 and len(split.train) == n and not split.augmented
    # teacher "logits" that encode (view, image): 1000 * view + image
    code = (1000 * torch.arange(4).view(-1, 1) + torch.arange(n)).float()
    teacher = code.unsqueeze(2).repeat(1, 1, 10)
    with pytest.raises(ValueError, match="every view"):
        split.teacher_rows(torch.zeros(n, 10))
    assert split.teacher_rows(teacher) is teacher
    rows = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:100]
    x, y, answers = split.training_batch(rows, teacher, torch.Generator().manual_seed(1))
    views, images = answers[:, 0].long() // 1000, answers[:, 0].long() % 1000
    assert torch.equal(images, rows) and torch.equal(y, split.y_train[rows])
    assert set(views.tolist()) == {0, 1, 2, 3}  # every view is drawn, the image itself too
    pixels = data.render_views(split.train.images, split.view_plan, rows, views)
    expected = data.normalize(pixels.float() / 255, split.info).reshape(100, -1)
    assert torch.allclose(x, expected)
    assert torch.equal(x[views == 0], split.x_train[rows[views == 0]])


def test_without_a_view_plan_a_batch_is_the_stored_rows(tiny_data):
    rows = torch.tensor([5, 1, 7])
    x, y, answers = tiny_data.training_batch(rows, None, torch.Generator())
    assert answers is None and torch.equal(x, tiny_data.x_train[rows])
    assert torch.equal(y, tiny_data.y_train[rows])


def test_patient_distillation_trains_from_the_cached_views(tmp_path, fast_teacher):
    teacher, out = fast_teacher
    cfg = _cfg(kind="mlp", epochs=2, alpha=1.0, temperature=2.0,
               teacher=training.teacher_name(teacher), patient_views=2, mixup=0.4)
    split = StudentData.from_config(cfg)
    logits = training.cache_view_logits(teacher, split.train, split.view_plan, out,
                                        progress=False)
    assert logits.shape == (3, len(split.train), 10)
    result = training.train_student(cfg, logits, out_dir=tmp_path, progress=False,
                                    student_data=split)
    assert result.metrics["train_images"] == len(split.train_images)  # one view each an epoch
    assert result.metrics["val_accuracy"] > 0.3


def test_label_trick_config_is_checked_and_builds_a_label_input_gnn():
    with pytest.raises(ValueError, match="graph students only"):
        _cfg(kind="mlp", label_trick=0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        _cfg(label_trick=1.0)
    with pytest.raises(ValueError, match="do not combine"):
        _cfg(label_trick=0.5, relation_weight=1.0, alpha=0.5, teacher="t")
    model = _cfg(label_trick=0.5).build(784, 10)
    assert isinstance(model, students.LabelInputGNN) and model.in_features == 784
    assert model.gnn.in_features == 794 and model.reads_labels


def test_the_label_trick_scores_only_the_rows_that_did_not_see_their_label(tiny_data):
    cfg = _cfg(label_trick=0.5)
    model = cfg.build(tiny_data.in_features, tiny_data.num_classes)
    seen = {}
    real_forward = model.forward

    def spy(x, labels=None, known=None, **kwargs):
        seen.update(labels=labels, known=known)
        return real_forward(x, labels, known, **kwargs)

    model.forward = spy
    x, y = tiny_data.x_train[:64], tiny_data.y_train[:64]
    batch = student_module._student_batch(model, x, y, torch.arange(64.0).unsqueeze(1), 0.5,
                                          False, torch.Generator().manual_seed(0))
    known = seen["known"]
    assert torch.equal(seen["labels"], y) and 10 < int(known.sum()) < 54
    assert len(batch.targets) == int((~known).sum())
    assert torch.equal(batch.targets, y[~known])
    assert torch.equal(batch.teacher_logits[:, 0].long(), torch.arange(64)[~known])


def test_a_label_trick_student_trains_and_is_validated_in_anchor_mode(tmp_path, tiny_data,
                                                                      monkeypatch):
    cfg = _cfg(epochs=2, label_trick=0.5)
    result = training.train_student(cfg, out_dir=tmp_path, progress=False,
                                    student_data=tiny_data)
    anchors = tiny_data.anchor_bank(len(tiny_data.train_images))
    bank = result.model.build_anchor_bank(anchors.features, labels=anchors.labels)
    anchor_accuracy = (result.model.predict_anchor(tiny_data.x_val, bank).argmax(1)
                       == tiny_data.y_val).float().mean().item()
    assert result.metrics["val_accuracy"] == pytest.approx(anchor_accuracy)
    assert result.metrics["val_accuracy"] > 0.3
    loaded = training.student_train_or_load(cfg, out_dir=tmp_path, progress=False)
    assert loaded.loaded and isinstance(loaded.model, students.LabelInputGNN)


def test_validation_mode_is_an_option(tmp_path, tiny_data):
    with pytest.raises(ValueError, match="validation must be one of"):
        _cfg(validation="test")
    with pytest.raises(ValueError, match="no anchor mode"):
        _cfg(kind="mlp", validation="anchor")
    assert _cfg().validation_mode == "batch" and _cfg(label_trick=0.5).validation_mode == "anchor"
    assert _cfg(label_trick=0.5, validation="batch").validation_mode == "batch"
    cfg = _cfg(epochs=1, validation="anchor")
    result = training.train_student(cfg, out_dir=tmp_path, progress=False, student_data=tiny_data)
    anchors = tiny_data.anchor_bank(len(tiny_data.train_images))
    bank = result.model.build_anchor_bank(anchors.features)
    expected = (result.model.predict_anchor(tiny_data.x_val, bank).argmax(1)
                == tiny_data.y_val).float().mean().item()
    assert result.metrics["val_accuracy"] == pytest.approx(expected)
