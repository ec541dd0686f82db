"""Cached teacher logits (cnn2gnn_lib.training.teacher_logits): computed once, keyed by the
teacher as it answers and by the images asked."""
import pytest
import torch

from cnn2gnn_lib import data, training
from cnn2gnn_lib.training import teacher_logits as logits_module


def test_cached_logits_are_computed_once(fast_teacher, fmnist_train, monkeypatch):
    result, out = fast_teacher
    subset = data.balanced_subset(fmnist_train, 10)
    logits = training.cache_teacher_logits(result, subset, out, device="cpu", progress=False)
    assert logits.shape == (100, 10)
    assert torch.equal(logits, training.predict(result.model, subset, device="cpu"))
    monkeypatch.setattr(logits_module, "predict", lambda *a, **k: pytest.fail("recomputed"))
    assert torch.equal(training.cache_teacher_logits(result, subset, out), logits)
    # another subset has another fingerprint, so its logits are computed, not read
    other = data.balanced_subset(fmnist_train, 10, seed=1)
    assert training.dataset_fingerprint(other) != training.dataset_fingerprint(subset)
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        training.cache_teacher_logits(result, other, out)


def test_flip_averaged_teacher_has_its_own_name_and_logit_cache(fast_teacher, fmnist_train):
    result, out = fast_teacher
    flipped = training.flip_averaged(result)
    assert training.teacher_name(result) == result.config.name()
    assert training.teacher_name(flipped) == result.config.name() + "-flip"
    assert flipped.path == result.path and flipped.metrics == result.metrics
    subset = data.balanced_subset(fmnist_train, 5)
    plain = training.cache_teacher_logits(result, subset, out, device="cpu", progress=False)
    averaged = training.cache_teacher_logits(flipped, subset, out, device="cpu", progress=False)
    assert torch.allclose(averaged, training.predict(flipped.model, subset, device="cpu"))
    assert not torch.allclose(averaged, plain)  # not read from the plain teacher's cache
    assert len(list((out / "logits").glob(f"{result.config.name()}-flip-*.pt"))) == 1


def test_view_logits_are_the_teacher_on_each_view_computed_once(fast_teacher, fmnist_train,
                                                                 monkeypatch):
    result, out = fast_teacher
    subset = data.balanced_subset(fmnist_train, 4)
    plan = data.draw_views(len(subset), 2, subset.info, seed=0, mixup=0.5)
    logits = training.cache_view_logits(result, subset, plan, out, device="cpu", progress=False)
    assert logits.shape == (3, 40, 10)
    assert torch.equal(logits[0], training.cache_teacher_logits(result, subset, out))
    for view in (1, 2):
        assert torch.equal(logits[view], training.predict(
            result.model, data.view_dataset(subset, plan, view), device="cpu"))
    assert not torch.allclose(logits[1], logits[0])
    monkeypatch.setattr(logits_module, "predict", lambda *a, **k: pytest.fail("recomputed"))
    assert torch.equal(training.cache_view_logits(result, subset, plan, out), logits)
    other = data.draw_views(len(subset), 2, subset.info, seed=1, mixup=0.5)
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        training.cache_view_logits(result, subset, other, out)
    with pytest.raises(ValueError, match="drawn for 40 images"):
        training.cache_view_logits(result, data.balanced_subset(fmnist_train, 3), plan, out)
