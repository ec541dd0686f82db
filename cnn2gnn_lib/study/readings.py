"""What a study's results support: each comparison of chapter 8 with the noise it must beat.

:func:`readings` turns ``results.json`` into sentences a reader can check against the tables:
every difference between student rows is paired seed by seed with its 95% interval
(:func:`~.stats.paired_difference`); a difference measured on one run (the sweeps, the
designs) is set against the seed-to-seed standard deviation of the student rows on validation,
pooled (the only noise the study measures), and called unresolved when it is not larger than
twice that; the two teachers, one run each, are named as such and not judged. Chapter 8 of the
book ("Results") prints them under "Reading the results", so its prose never claims more than
its outputs.
"""
from __future__ import annotations

from typing import Any

from .formatting import batch_protocol
from .names import STUDENT_NAMES, TEST_BATCH
from .stats import paired_difference

NOISE_FACTOR = 2.0  # a one-run difference must exceed this many seed standard deviations


def _per_seed(row: dict[str, Any], metric: str) -> list[float]:
    return [100 * run[metric] for run in row["per_seed"]]


def _paired(rows: dict, first: tuple[str, bool], second: tuple[str, bool],
            metric: str = TEST_BATCH) -> str:
    names = (_name(*first), _name(*second))
    found = paired_difference(_per_seed(rows[first], metric), _per_seed(rows[second], metric),
                              names)
    if found["ci"] is None:
        return f"{found['mean']:+.2f} points ({found['verdict']})"
    low, high = found["ci"]
    return (f"{found['mean']:+.2f} points, 95% interval [{low:+.2f}, {high:+.2f}] over "
            f"{found['n']} paired seeds: {found['verdict']}")


def _name(kind: str, kd: bool) -> str:
    return f"{STUDENT_NAMES.get(kind, kind)}{' + KD' if kd else ''}"


def _noise(rows: dict) -> float:
    """The seed-to-seed standard deviation (points) on validation, the split every one-run
    comparison below is judged on, pooled over all student rows: one row's three seeds can
    show almost no spread by chance."""
    variances = [row["val_accuracy"]["std"] ** 2 for row in rows.values()]
    return 100 * (sum(variances) / len(variances)) ** 0.5


def _threshold(noise: float) -> str:
    return f"{NOISE_FACTOR:g} x {noise:.2f} = {NOISE_FACTOR * noise:.2f} points"


def _beyond(difference: float, noise: float) -> bool:
    """Whether a one-run difference exceeds the noise threshold as both are printed (two
    decimals), so a reader never sees "more than" between two equal numbers."""
    return round(abs(difference), 2) > round(NOISE_FACTOR * noise, 2)


def _one_run(difference: float, noise: float) -> str:
    if _beyond(difference, noise):
        return f"larger than {NOISE_FACTOR:g} seed standard deviations ({_threshold(noise)})"
    return f"within {NOISE_FACTOR:g} seed standard deviations ({_threshold(noise)}): unresolved"


def readings(results: dict[str, Any]) -> list[str]:
    """The comparisons of a finished study, one sentence each (Markdown bullets)."""
    rows = {(r["student"], r["kd"]): r for r in results["students"]}
    noise = _noise(rows)
    lines = [f"Paired over seeds (test, batch mode: {batch_protocol(results)}):"]
    for kind in ("mlp", "gnn-learned"):
        lines.append(f"- KD, {STUDENT_NAMES[kind]}: "
                     f"{_paired(rows, (kind, True), (kind, False))}.")
    lines.append(f"- learned graph against fixed kNN graph (both KD): "
                 f"{_paired(rows, ('gnn-learned', True), ('gnn-knn', True))}.")
    lines.append(f"- learned-graph GNN against MLP (both KD): "
                 f"{_paired(rows, ('gnn-learned', True), ('mlp', True))}.")
    teachers = list(results["teachers"].values())
    best = max(rows.values(), key=lambda r: r[TEST_BATCH]["mean"])
    teacher_accuracy = teachers[0]["metrics"]["test_accuracy"]
    lines.append(f"- best main row in batch mode ({_name(best['student'], best['kd'])}) against "
                 f"the teacher: {100 * (best[TEST_BATCH]['mean'] - teacher_accuracy):+.2f} "
                 "points.")
    finals = results.get("designs", {}).get("finals", {})
    best_final = max((f for f in (finals.get("gnn"), finals.get("mlp")) if f),
                     key=lambda f: f["test"][f["mode"]]["mean"], default=None)
    if best_final is not None:
        test = best_final["test"][best_final["mode"]]
        lines.append(f"- best chosen design ({STUDENT_NAMES[best_final['student']]}, "
                     f"{best_final['design']}, {best_final['mode']}, {test['n']} seeds) against "
                     f"the teacher: {100 * (test['mean'] - teacher_accuracy):+.2f} points.")
    lines += ["", "One run each (judged against the seed standard deviation of the student rows "
              f"on validation, pooled: {noise:.2f} points):"]
    if len(teachers) > 1:
        gap = 100 * (teachers[1]["metrics"]["test_accuracy"] - teacher_accuracy)
        lines.append(f"- {teachers[1]['arch']} against {teachers[0]['arch']} (test): "
                     f"{gap:+.2f} points, one training run each; the study does not measure "
                     "a teacher's seed spread, so this pair alone cannot show whether depth "
                     "helps.")
    for name, sweep in results.get("sweeps", {}).items():
        values = [100 * row["val_accuracy"] for row in sweep]
        spread = max(values) - min(values)
        lines.append(f"- the {name} sweep spans {spread:.2f} points of validation accuracy: "
                     f"{_one_run(spread, noise)}.")
    lines += _design_readings(results, noise)
    return lines


def _design_readings(results: dict[str, Any], noise: float) -> list[str]:
    designs = results.get("designs")
    if not designs:
        return []
    records = {r["design"]: r for r in designs["records"] if r["student"] != "mlp"}
    paper = records.get("paper")
    if paper is None:
        return []
    lines = []
    for mode in ("batch", "anchor"):
        margins = {name: 100 * (record["val"][mode] - paper["val"][mode])
                   for name, record in records.items()
                   if name != "paper" and mode in record["val"]}
        ahead = [f"{name} ({margin:+.2f})" for name, margin in margins.items()
                 if margin > 0 and _beyond(margin, noise)]
        lines.append(f"- designs ahead of the paper design in {mode} mode by more than "
                     f"{NOISE_FACTOR:g} seed standard deviations ({_threshold(noise)}; "
                     f"validation, seed 0): {', '.join(ahead) if ahead else 'none'}; every "
                     f"other difference in {mode} mode is unresolved or a loss.")
    return lines
