"""Epoch callbacks of the student loop: what changes between epochs, kept out of the loop.

:func:`cnn2gnn_lib.training.fit_student` calls, for every callback, ``on_epoch_start`` before
an epoch, ``on_epoch_end`` with the epoch's history row (before validation), ``may_select`` to
ask whether this epoch may become the selected model, ``on_state`` with the resumable state
after the epoch, and ``on_train_end`` once at the end.
"""
from __future__ import annotations

from typing import Any, Callable


class Callback:
    """Hooks of the student loop; each does nothing unless overridden."""

    def on_epoch_start(self, student, epoch: int) -> None:
        """Before epoch ``epoch`` (0-based) trains."""

    def on_epoch_end(self, student, row: dict[str, Any]) -> None:
        """After the epoch trained; ``row`` is its history row (add to it to record)."""

    def may_select(self, student) -> bool:
        """Whether this epoch's model may be selected as the best one."""
        return True

    def on_state(self, state: dict[str, Any]) -> None:
        """After the epoch, with everything needed to resume (e.g. to checkpoint it)."""

    def on_train_end(self, student) -> None:
        """Once, after the last epoch, before the best model is loaded."""


class SparsitySchedule(Callback):
    """Grow the graph head's ``s`` from ``start`` to ``final`` over the first half of the
    epochs (a curriculum: few, sure neighbours first). Only epochs at the final ``s`` may be
    selected, so the kept model is the one the configuration names."""

    def __init__(self, start: int, final: int, epochs: int):
        if not 1 <= start <= final:
            raise ValueError(f"s_start must be in [1, s={final}], got {start}")
        self.start, self.final, self.epochs = start, final, epochs

    def s_at(self, epoch: int) -> int:
        ramp = max(1, self.epochs // 2)
        return round(self.start + (self.final - self.start) * min(1.0, epoch / ramp))

    def on_epoch_start(self, student, epoch: int) -> None:
        student.head.s = self.s_at(epoch)

    def on_epoch_end(self, student, row: dict[str, Any]) -> None:
        row["s"] = student.head.s

    def may_select(self, student) -> bool:
        return student.head.s == self.final

    def on_train_end(self, student) -> None:
        student.head.s = self.final


class SaveState(Callback):
    """Hand the resumable state to ``save`` after every epoch (a partial checkpoint)."""

    def __init__(self, save: Callable[[dict[str, Any]], None]):
        self.save = save

    def on_state(self, state: dict[str, Any]) -> None:
        self.save(state)
