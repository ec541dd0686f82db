"""Checks for the book's exercises: ``exercises.check("4.1", answer)`` says whether an answer is
right, or what is off, without ever printing the answer itself.

Each chapter has at least one checked exercise (its number is the one the chapter's exercise
list gives). A check computes its reference from the library or the data, compares, and returns
a :class:`Verdict`, which a notebook shows as one line::

    from cnn2gnn_lib import exercises
    exercises.check("3.2", my_normalise)     # a function the exercise asks for
    exercises.check("2.4", 1.3)              # a number
    exercises.available()                    # every checked exercise, with its question

Answers are numbers, pairs of class names, or functions; a function that raises is reported as
a wrong answer (with the error), never as a crash of the check. Instructors grade with the same
calls (see the instructors' page); the tests in ``tests/test_exercises.py`` prove that every
check accepts the reference solution and rejects a typical wrong one.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import torch

__all__ = ["Verdict", "check", "available"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``correct``, and a message that never contains the answer."""

    exercise: str
    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        mark = "right" if self.correct else "not yet"
        return f"Exercise {self.exercise}: {mark}. {self.message}"

    __str__ = __repr__


@dataclass(frozen=True)
class _Check:
    question: str
    run: Callable[..., tuple[bool, str]]


_CHECKS: dict[str, _Check] = {}


def _exercise(number: str, question: str):
    def register(run: Callable[..., tuple[bool, str]]):
        _CHECKS[number] = _Check(question, run)
        return run
    return register


def available() -> dict[str, str]:
    """Every checked exercise: its number and, in a few words, what it asks."""
    return {number: found.question for number, found in sorted(_CHECKS.items())}


def check(exercise: str, answer: Any, **context: Any) -> Verdict:
    """Check ``answer`` to ``exercise`` (``"chapter.number"``); ``context`` passes what some
    checks need (``dataset=`` for the data-dependent ones, as the chapter's ``DATASET``)."""
    found = _CHECKS.get(str(exercise))
    if found is None:
        raise KeyError(f"exercise {exercise!r} has no check; checked exercises: "
                       f"{', '.join(sorted(_CHECKS))}")
    try:
        correct, message = found.run(answer, **context)
    except _AnswerError as problem:
        correct, message = False, str(problem)
    return Verdict(str(exercise), correct, message)


class _AnswerError(Exception):
    """An answer of the wrong form, or a student's function that failed."""


def _call(function: Any, *args: Any) -> Any:
    if not callable(function):
        raise _AnswerError(f"expected a function, got {type(function).__name__}")
    try:
        with torch.no_grad():
            return function(*args)
    except Exception as error:  # the student's code: report it, do not crash the check
        raise _AnswerError(f"your function raised {type(error).__name__}: {error}") from None


def _number(answer: Any) -> float:
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise _AnswerError(f"expected a number, got {answer!r}") from None
    if value != value:
        raise _AnswerError("the answer is NaN")
    return value


def _tensor(value: Any, shape: tuple[int, ...], what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise _AnswerError(f"{what} should be a tensor, got {type(value).__name__}")
    if tuple(value.shape) != shape:
        raise _AnswerError(f"{what} has shape {tuple(value.shape)}; expected {shape}")
    return value.detach().double()


def _relative_miss(value: float, reference: float, tolerance: float, unit: str) -> tuple[bool, str]:
    """Right within ``tolerance`` (relative); otherwise say which side, coarsely, so the
    message does not give the number away."""
    ratio = value / reference
    if abs(ratio - 1) <= tolerance:
        return True, f"Within {tolerance:.0%} of the measured {unit}."
    side = "high" if ratio > 1 else "low"
    far = ratio <= 0 or max(ratio, 1 / ratio) > 1.5
    how = "by more than a factor of 1.5" if far else f"by more than {tolerance:.0%}"
    return False, f"Your {unit} is too {side}, {how}."


# ---------------------------------------------------------------------------------------------
# Chapter 1


@_exercise("1.1", "the two classes whose average images are closest (a pair of class names)")
def _closest_class_means(answer: Any, dataset: str = "fashion-mnist") -> tuple[bool, str]:
    from . import data
    from .graph import pairwise_sq_dists
    from .plotting import mean_image_per_class

    train = data.load_dataset(dataset, "train")
    classes = list(train.classes)
    try:
        pair = [classes.index(a) if isinstance(a, str) else int(a) for a in answer]
    except (TypeError, ValueError):
        raise _AnswerError(f"expected two class names of {classes}, got {answer!r}") from None
    if len(pair) != 2 or pair[0] == pair[1] or not all(0 <= k < len(classes) for k in pair):
        raise _AnswerError(f"expected two different classes of {classes}, got {answer!r}")
    means = torch.as_tensor(mean_image_per_class(train)).flatten(1).double()
    distances = pairwise_sq_dists(means)
    yours = distances[pair[0], pair[1]]
    upper = torch.triu(torch.ones_like(distances, dtype=torch.bool), diagonal=1)
    closer = int((distances[upper] < yours).sum())
    if closer == 0:
        return True, "No other pair of class means is closer."
    return False, (f"{closer} other pair{'s are' if closer > 1 else ' is'} closer. Compute the "
                   "squared distance of every pair of class means, not just the likely ones.")


# ---------------------------------------------------------------------------------------------
# Chapter 2


@lru_cache(maxsize=None)  # the same reference for every answer checked
def _teacher_flops(arch: str, channels: int, size: int, num_classes: int) -> float:
    from .efficiency import flops_per_image
    from .teachers import build_teacher

    model = build_teacher(arch, in_channels=channels, num_classes=num_classes)
    return flops_per_image(model, torch.rand(1, channels, size, size))


@_exercise("2.4", "by what factor ResNet-20's FLOPs per image grow from 1 x 28 x 28 grey "
                  "images to 3 x 32 x 32 colour images (a number)")
def _colour_flops_factor(answer: Any) -> tuple[bool, str]:
    value = _number(answer)
    reference = _teacher_flops("resnet20", 3, 32, 10) / _teacher_flops("resnet20", 1, 28, 10)
    right, message = _relative_miss(value, reference, 0.03, "factor")
    if not right and value < reference:
        message += (" A convolution's cost grows with the number of positions it visits: in "
                    "both directions of the image.")
    return right, message


# ---------------------------------------------------------------------------------------------
# Chapter 3


def _weighted_graphs(generator: torch.Generator) -> list[torch.Tensor]:
    graphs = []
    for n in (5, 9, 16):
        weights = torch.rand(n, n, generator=generator, dtype=torch.float64)
        keep = torch.rand(n, n, generator=generator) < 0.4
        upper = torch.triu(weights * keep, diagonal=1)
        graphs.append(upper + upper.T + torch.eye(n, dtype=torch.float64))
    return graphs


@_exercise("3.2", "the symmetric normalisation D^-1/2 A D^-1/2 with weighted degrees "
                  "(a function of a dense [N, N] adjacency)")
def _weighted_normalisation(answer: Any) -> tuple[bool, str]:
    from .graph import normalize

    generator = torch.Generator().manual_seed(3)
    unit = [(a > 0).double() for a in _weighted_graphs(generator)]
    for kind, graphs in (("unweighted", unit), ("weighted", _weighted_graphs(generator))):
        for adjacency in graphs:
            yours = _tensor(_call(answer, adjacency.clone()), tuple(adjacency.shape),
                            "the normalised adjacency")
            miss = float((yours - normalize(adjacency)).abs().max())
            if miss > 1e-6:
                if kind == "weighted":
                    return False, ("Right on graphs whose edges all weigh 1, wrong on weighted "
                                   f"ones (largest difference {miss:.3f}): which degree did you "
                                   "divide by?")
                return False, (f"Wrong already on a graph whose edges all weigh 1 (largest "
                               f"difference {miss:.3f}): each entry is divided by the square "
                               "roots of both of its nodes' degrees.")
    return True, "Matches the library's normalisation on weighted and unweighted graphs."


# ---------------------------------------------------------------------------------------------
# Chapter 4


@_exercise("4.1", "the closed-form adaptive-neighbour weights (a function of distances "
                  "[B, M] and s, giving weights [B, M])")
def _closed_form(answer: Any) -> tuple[bool, str]:
    from .graph import adaptive_neighbors

    generator = torch.Generator().manual_seed(4)
    for rows, candidates, s in ((4, 12, 3), (6, 20, 5), (3, 8, 1)):
        distances = torch.rand(rows, candidates, generator=generator, dtype=torch.float64) * 4
        reference = adaptive_neighbors(distances, s, exclude_self=False)
        yours = _tensor(_call(answer, distances.clone(), s), (rows, candidates), "the weights")
        if float((yours.sum(1) - 1).abs().max()) > 1e-6:
            return False, f"With s = {s}, your rows do not sum to 1."
        nonzero = (yours.abs() > 1e-9).sum(1)
        if bool((nonzero != s).any()):
            return False, (f"With s = {s}, a row of yours has {int(nonzero.max())} non-zero "
                           f"weights; the closed form has exactly s.")
        if bool(((yours > 1e-9) != (reference > 1e-9)).any()):
            return False, f"With s = {s}, your non-zero weights sit on the wrong candidates."
        miss = float((yours - reference).abs().max())
        if miss > 1e-6:
            return False, (f"With s = {s}, the right candidates but weights off by up to "
                           f"{miss:.3f}: check the numerator and the normaliser.")
    return True, "Matches the closed form for every s tried."


# ---------------------------------------------------------------------------------------------
# Chapter 5


@_exercise("5.4", "whether a student's prediction for an image depends on its batch-mates (a "
                  "function of a model and a batch, giving True or False)")
def _depends_on_batch(answer: Any) -> tuple[bool, str]:
    from .students import build_student

    torch.manual_seed(5)
    x = torch.rand(48, 20)
    expected = {"mlp": False, "gnn-learned": True, "gnn-knn": True}
    for kind, truth in expected.items():
        options = {} if kind == "mlp" else {"s": 4}
        model = build_student(kind, 20, 16, 3, **options).eval()
        yours = _call(answer, model, x.clone())
        if not isinstance(yours, (bool, torch.Tensor)) or (
                isinstance(yours, torch.Tensor) and yours.numel() != 1):
            raise _AnswerError(f"your function should return True or False, got {yours!r}")
        if bool(yours) != truth:
            name = {"mlp": "the MLP", "gnn-learned": "the learned-graph GNN",
                    "gnn-knn": "the fixed-graph GNN"}[kind]
            return False, (f"Wrong for {name}. Predict the same image inside two different "
                           "batches and compare the logits, allowing for rounding.")
    return True, "Right for the MLP and for both GNNs."


# ---------------------------------------------------------------------------------------------
# Chapter 6


@_exercise("6.4", "the distillation loss (1 - alpha) CE + alpha T^2 KL (a function of student "
                  "logits, teacher logits, labels, T and alpha)")
def _kd_loss(answer: Any) -> tuple[bool, str]:
    from .distill import kd_loss

    generator = torch.Generator().manual_seed(6)
    student = torch.randn(32, 10, generator=generator, dtype=torch.float64) * 2
    teacher = torch.randn(32, 10, generator=generator, dtype=torch.float64) * 3
    labels = torch.randint(0, 10, (32,), generator=generator)
    wrong: list[tuple[float, float]] = []
    for temperature in (1.0, 2.0, 4.0, 8.0):
        for alpha in (0.0, 0.5, 0.9, 1.0):
            yours = _call(answer, student.clone(), teacher.clone(), labels.clone(), temperature,
                          alpha)
            value = float(_tensor(torch.as_tensor(yours), (), "your loss"))
            if abs(value - float(kd_loss(student, teacher, labels, temperature, alpha))) > 1e-5:
                wrong.append((temperature, alpha))
    if not wrong:
        return True, "Matches the library's loss for every T and alpha tried."
    if any(alpha == 0.0 for _, alpha in wrong):
        return False, "Wrong in the cross-entropy part: alpha = 0 already differs."
    if all(temperature > 1 for temperature, _ in wrong):
        return False, ("Right at T = 1 but not at larger T: how does the size of the soft term's "
                       "gradient change with T, and what makes up for it?")
    return False, (f"Wrong at {len(wrong)} of 16 (T, alpha) pairs, T = 1 included: check the "
                   "direction of the KL divergence and the batch averaging.")


# ---------------------------------------------------------------------------------------------
# Chapter 7


@_exercise("7.4", "class-sorted test batches: sorted by label, cut into consecutive batches (a "
                  "function of labels and a batch size, giving a list of index tensors)")
def _class_sorted(answer: Any) -> tuple[bool, str]:
    from .protocols import Protocol, plan_batches

    generator = torch.Generator().manual_seed(7)
    labels = torch.randint(0, 5, (230,), generator=generator)
    batch_size = 32
    batches = _call(answer, labels.clone(), batch_size)
    try:
        batches = [torch.as_tensor(b).long().flatten() for b in batches]
    except (TypeError, ValueError):
        raise _AnswerError("your function should return a list of index tensors") from None
    together = torch.cat(batches) if batches else torch.empty(0, dtype=torch.long)
    if len(together) != len(labels) or not torch.equal(together.sort().values,
                                                       torch.arange(len(labels))):
        return False, "Your batches do not hold every test image exactly once."
    if max(len(b) for b in batches) > batch_size:
        return False, f"A batch of yours is larger than {batch_size}."

    def mixed(plan: list[torch.Tensor]) -> int:
        return sum(len(labels[b].unique()) > 1 for b in plan)

    yours, least = mixed(batches), mixed(plan_batches(labels, Protocol("class-sorted", batch_size)))
    if yours > least:
        return False, (f"{yours} of your batches mix classes; sorting by class and "
                       f"cutting consecutive batches gives {least}.")
    return True, "Every image once, each class in consecutive batches."


# ---------------------------------------------------------------------------------------------
# Chapter 8


@_exercise("8.2", "the student rows whose seed range of test accuracy (batch mode) overlaps the "
                  "distilled MLP's (a set of (student, kd) pairs)")
def _overlapping_rows(answer: Any, dataset: str = "fashion-mnist") -> tuple[bool, str]:
    from .report import load_results
    from .study.names import TEST_BATCH

    students = load_results(dataset)["students"]
    rows = {(r["student"], bool(r["kd"])): r[TEST_BATCH] for r in students}
    mlp = rows[("mlp", True)]
    expected = {key for key, stats in rows.items() if key != ("mlp", True)
                and stats["min"] <= mlp["max"] and mlp["min"] <= stats["max"]}
    try:
        given = {(str(student), bool(kd)) for student, kd in answer}
    except (TypeError, ValueError):
        raise _AnswerError("expected a set of (student, kd) pairs, e.g. {('mlp', False)}"
                           ) from None
    unknown = given - set(rows)
    if unknown:
        raise _AnswerError(f"{sorted(unknown)} are not rows of the study; its rows are "
                           f"{sorted(rows)}")
    if given == expected:
        return True, "Exactly the rows whose range overlaps the distilled MLP's."
    missing, extra = len(expected - given), len(given - expected)
    parts = [f"{missing} overlapping row{'s' if missing != 1 else ''} missing"] if missing else []
    parts += [f"{extra} row{'s' if extra != 1 else ''} that do not overlap"] if extra else []
    return False, ("; ".join(parts) + ". Two ranges overlap when each one's minimum is at most "
                   "the other's maximum.")


# ---------------------------------------------------------------------------------------------
# Chapter 9


@_exercise("9.3", "how many times the FLOPs per image of ResNet-152 on Mini-ImageNet (84 px) "
                  "exceed those of ResNet-20 on CIFAR (32 px) (a number)")
def _deep_cost_ratio(answer: Any) -> tuple[bool, str]:
    value = _number(answer)
    reference = _teacher_flops("resnet152", 3, 84, 100) / _teacher_flops("resnet20", 3, 32, 100)
    return _relative_miss(value, reference, 0.05, "ratio")
