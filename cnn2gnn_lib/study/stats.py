"""Summaries over seeds: mean and spread of one model, and the paired difference of two.

Two students trained with the same seeds see the same data split, initialisation draw and
batch order, so their per-seed accuracies are paired. The difference is judged by its own
spread: a 95% confidence interval from Student's t distribution with ``n - 1`` degrees of
freedom. An interval that holds zero is reported as *no difference*: the seeds cannot tell the
two apart. Chapter 8 of the book ("Results") reads its verdicts from here.
"""
from __future__ import annotations

import math
import statistics

CONFIDENCE = 0.95


def mean_std(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation, range and count of per-seed values."""
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def t_quantile(probability: float, degrees: int) -> float:
    """The ``probability`` quantile of Student's t with ``degrees`` degrees of freedom."""
    from scipy.stats import t  # imported here: only the summaries need SciPy

    return float(t.ppf(probability, degrees))


def paired_difference(first: list[float], second: list[float],
                      names: tuple[str, str] = ("first", "second")) -> dict[str, object]:
    """``first - second`` per seed: mean, standard deviation, 95% interval and a verdict.

    The verdict names the better of ``names`` when the interval excludes zero, else says
    ``"no difference"``. Fewer than two pairs give no interval (and no verdict).
    """
    if len(first) != len(second):
        raise ValueError(f"paired values need the same seeds: {len(first)} against "
                         f"{len(second)}")
    differences = [a - b for a, b in zip(first, second)]
    n = len(differences)
    summary: dict[str, object] = {"per_seed": differences, "mean": statistics.fmean(differences),
                                  "n": n, "confidence": CONFIDENCE}
    if n < 2:
        summary.update(std=0.0, ci=None, verdict="too few seeds to judge")
        return summary
    std = statistics.stdev(differences)
    half = t_quantile(0.5 + CONFIDENCE / 2, n - 1) * std / math.sqrt(n)
    low, high = summary["mean"] - half, summary["mean"] + half
    if low > 0:
        verdict = f"{names[0]} better"
    elif high < 0:
        verdict = f"{names[1]} better"
    else:
        verdict = "no difference"
    summary.update(std=std, ci=[low, high], verdict=verdict)
    return summary
