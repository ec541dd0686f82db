"""How the study's results are written in words and numbers: percentages, large numbers, and the
batch-mode protocol a results file records (shared by :mod:`cnn2gnn_lib.report`, the design
tables and the readings)."""
from __future__ import annotations

from typing import Any

from .names import TEST_BATCH


def percent(value: float | None) -> str:
    """A fraction as a percentage with two decimals, ``-`` when missing."""
    return "-" if value is None else f"{100 * value:.2f}"


def pct(stats: dict[str, float] | None) -> str:
    """A seed summary as ``mean ± std`` in percent (the mean alone for one seed)."""
    if not stats:
        return "-"
    if stats.get("n", 1) > 1:
        return f"{100 * stats['mean']:.2f} ± {100 * stats['std']:.2f}"
    return f"{100 * stats['mean']:.2f}"


def interval(difference: dict[str, Any]) -> str:
    """A paired difference's 95% interval in points (``[-0.30, +1.00]``), ``-`` without one."""
    if difference["ci"] is None:
        return "-"
    low, high = difference["ci"]
    return f"[{100 * low:+.2f}, {100 * high:+.2f}]"


def difference_cells(difference: dict[str, Any]) -> str:
    """A paired difference (:func:`~cnn2gnn_lib.study.stats.paired_difference`) as three table
    cells: the mean in points, its 95% interval, the verdict."""
    return f"{100 * difference['mean']:+.2f} | {interval(difference)} | {difference['verdict']}"


def number(value: float | None, digits: int = 0) -> str:
    """A count with thousands separators, or in millions (``1.08 M``) from a million up."""
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    return f"{value:,.{digits}f}"


def millions(value: float) -> str:
    """A count in millions with two decimals (``0.81``), for a column that mixes sizes."""
    return f"{value / 1e6:,.2f}"


def batch_protocol(results: dict[str, Any], split: str = "test") -> str:
    """How the study formed the batches of its batch-mode accuracies, in words; ``split``
    names the images batched (the design study batches the validation split the same way)."""
    recorded = results["students"][0]["per_seed"][0].get("protocols", {}).get(TEST_BATCH)
    if recorded:
        return recorded.replace("test batches", f"{split} batches")
    # studies run before protocols were recorded predicted consecutive batches of the test
    # split in its own order (Fashion-MNIST's is not sorted by class)
    return (f"consecutive {split} batches of {results['plan']['batch_size']} in the dataset's own "
            "order (transductive; recorded before protocols were named)")
