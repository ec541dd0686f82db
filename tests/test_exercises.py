"""The exercise checks: each accepts the reference solution and rejects a typical wrong answer,
and no message gives the answer away."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from cnn2gnn_lib import data, distill, exercises, graph, protocols, report, teachers


def _flops(arch: str, channels: int, size: int, classes: int) -> float:
    model = teachers.build_teacher(arch, in_channels=channels, num_classes=classes).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(1, channels, size, size))
    return counter.get_total_flops()


def test_every_chapter_has_a_checked_exercise():
    chapters = {number.split(".")[0] for number in exercises.available()}
    assert chapters == {str(k) for k in range(1, 10)}


def test_unknown_exercise_names_the_checked_ones():
    with pytest.raises(KeyError, match="1.1, 2.4"):
        exercises.check("1.9", 0)


def test_verdict_reads_as_one_line_and_as_a_bool():
    verdict = exercises.check("2.4", "not a number")
    assert not verdict and str(verdict).startswith("Exercise 2.4: not yet.")
    assert "expected a number" in verdict.message


def test_1_1_closest_class_means():
    train = data.load_dataset("fashion-mnist", "train")
    images = train.images.flatten(1).double() / 255
    means = torch.stack([images[train.targets == k].mean(0) for k in range(10)])
    distances = torch.cdist(means, means).fill_diagonal_(float("inf"))
    first, second = divmod(int(distances.argmin()), 10)
    pair = (train.classes[first], train.classes[second])
    assert exercises.check("1.1", pair)
    assert exercises.check("1.1", (second, first))                 # indices, either order
    wrong = exercises.check("1.1", ("Trouser", "Bag"))
    assert not wrong and "closer" in wrong.message
    assert not any(name in wrong.message for name in pair)
    assert "two different classes" in exercises.check("1.1", ("Bag", "Bag")).message


def test_2_4_colour_flops_factor():
    factor = _flops("resnet20", 3, 32, 10) / _flops("resnet20", 1, 28, 10)
    assert exercises.check("2.4", factor)
    wrong = exercises.check("2.4", 32 / 28)                           # linear, not squared
    assert not wrong and "too low" in wrong.message and f"{factor:.2f}" not in wrong.message


def _normalise(adjacency):
    degree = adjacency.sum(1)
    return adjacency / torch.outer(degree.sqrt(), degree.sqrt())


def test_3_2_weighted_normalisation():
    assert exercises.check("3.2", _normalise)
    assert exercises.check("3.2", graph.normalize)

    def unweighted_degrees(adjacency):
        degree = (adjacency > 0).sum(1).double()
        return adjacency / torch.outer(degree.sqrt(), degree.sqrt())

    wrong = exercises.check("3.2", unweighted_degrees)
    assert not wrong and "weighted ones" in wrong.message
    assert "weigh 1" in exercises.check("3.2", lambda a: a / a.sum(1, keepdim=True)).message


def _closed_form(distances, s):
    nearest, indices = distances.topk(s + 1, dim=1, largest=False)
    margin = nearest[:, s:] - nearest[:, :s]
    weights = margin / margin.sum(1, keepdim=True)
    return torch.zeros_like(distances).scatter(1, indices[:, :s], weights)


def test_4_1_closed_form():
    assert exercises.check("4.1", _closed_form)
    assert "exactly s" in exercises.check("4.1", lambda d, s: torch.softmax(-d, 1)).message

    def over_s_plus_one(distances, s):  # a typical slip: normalising over s + 1 neighbours
        nearest, indices = distances.topk(s + 1, dim=1, largest=False)
        weights = 1 / (1 + nearest)
        return torch.zeros_like(distances).scatter(1, indices, weights / weights.sum(1, True))

    assert not exercises.check("4.1", over_s_plus_one)


def _depends_on_batch(model, x):
    first = model(x[:16])[0]
    second = model(torch.cat([x[:1], x[16:31]]))[0]
    return not torch.allclose(first, second, atol=1e-5)


def test_5_4_depends_on_batch():
    assert exercises.check("5.4", _depends_on_batch)
    wrong = exercises.check("5.4", lambda model, x: True)
    assert not wrong and "MLP" in wrong.message
    crashed = exercises.check("5.4", lambda model, x: 1 / 0)
    assert not crashed and "ZeroDivisionError" in crashed.message


def test_6_4_kd_loss():
    def reference(student, teacher, labels, temperature, alpha):
        soft = F.kl_div(F.log_softmax(student / temperature, 1),
                        F.softmax(teacher / temperature, 1), reduction="batchmean")
        return (1 - alpha) * F.cross_entropy(student, labels) + alpha * temperature ** 2 * soft

    assert exercises.check("6.4", reference)
    assert exercises.check("6.4", distill.kd_loss)

    def without_t_squared(student, teacher, labels, temperature, alpha):
        return ((1 - alpha) * F.cross_entropy(student, labels)
                + alpha * distill.soft_kl(student, teacher, temperature))

    wrong = exercises.check("6.4", without_t_squared)
    assert not wrong and "larger T" in wrong.message


def test_7_4_class_sorted_batches():
    def class_sorted(labels, batch_size):
        return list(torch.argsort(labels, stable=True).split(batch_size))

    assert exercises.check("7.4", class_sorted)
    shuffled = exercises.check("7.4", lambda y, b: list(torch.randperm(len(y)).split(b)))
    assert not shuffled and "mix classes" in shuffled.message and "consecutive" in shuffled.message
    assert "exactly once" in exercises.check("7.4", lambda y, b: [torch.arange(10)]).message
    too_big = exercises.check("7.4", lambda y, b: [torch.argsort(y, stable=True)])
    assert "larger than" in too_big.message
    library = exercises.check("7.4", lambda y, b: protocols.plan_batches(
        y, protocols.Protocol("class-sorted", b)))
    assert library


def test_8_2_rows_overlapping_the_distilled_mlp():
    rows = {(r["student"], r["kd"]): r["test_batch_accuracy"]
            for r in report.load_results()["students"]}
    mlp = rows["mlp", True]
    overlapping = {key for key, s in rows.items() if key != ("mlp", True)
                   and s["min"] <= mlp["max"] and mlp["min"] <= s["max"]}
    assert exercises.check("8.2", overlapping)
    assert exercises.check("8.2", [list(key) for key in overlapping])        # any pairs
    everything = set(rows) - {("mlp", True)}
    wrong = exercises.check("8.2", everything)                              # "all of them"
    assert not wrong and "do not overlap" in wrong.message
    assert "not rows of the study" in exercises.check("8.2", {("cnn", True)}).message


def test_9_3_deep_cost_ratio():
    ratio = _flops("resnet152", 3, 84, 100) / _flops("resnet20", 3, 32, 100)
    assert exercises.check("9.3", ratio)
    wrong = exercises.check("9.3", 152 / 20)                          # depth alone
    assert not wrong and "factor of 1.5" in wrong.message and f"{ratio:.0f}" not in wrong.message
