"""The stage log: the study's results store, ``results/<dataset>/results.json``.

Every stage of the study is recorded as soon as it finishes, keyed by a hash of its own
settings, so running the study again skips every stage whose settings are unchanged (even
under a changed plan) and runs the others. The file records the machine, the versions, the
commit and the wall time of every stage; lists of numbers are written on one line.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

_NUMBER_LIST = re.compile(r"\[\s*-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*\s*\]")
_REPOSITORY = Path(__file__).resolve().parent.parent.parent


def compact_json(obj: Any) -> str:
    """Indented JSON with every list of plain numbers on one line (per-image predictions stay
    readable in a diff instead of taking one line per image)."""
    text = json.dumps(obj, indent=2, default=str)
    return _NUMBER_LIST.sub(lambda m: "[" + re.sub(r"\s+", " ", m.group(0)[1:-1].strip()) + "]",
                            text)


def settings_hash(settings: Any) -> str:
    """The key of a stage: a short hash of its settings (any JSON-able value)."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()
                        ).hexdigest()[:12]


def commit() -> str:
    """The repository's commit, ``+uncommitted`` when code differs from it, or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_REPOSITORY, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        # the results the study writes are data, not code: they do not make the commit dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"],
                               cwd=_REPOSITORY, capture_output=True, text=True,
                               timeout=10).stdout
        return (sha + ("+uncommitted" if dirty.strip() else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class StageLog:
    """``results.json`` in memory: ``results`` (the whole document) and :meth:`stage`."""

    def __init__(self, path: str | os.PathLike, plan: dict[str, Any], progress: bool = True):
        self.path, self.progress = Path(path), progress
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.results = self._load(json.loads(json.dumps(plan)))  # tuples become lists

    def _load(self, plan: dict[str, Any]) -> dict[str, Any]:
        fresh = {"plan": plan, "stages": {}}
        if not self.path.is_file():
            return fresh
        try:
            stored = json.loads(self.path.read_text())
        except json.JSONDecodeError as error:
            raise RuntimeError(f"{self.path} is not valid JSON ({error}); move it away to start "
                               "the study again") from error
        if stored.get("plan") != plan:
            # every stage is keyed by its own settings, so the ones the new plan shares with the
            # old are still valid; the others simply run again
            print(f"{self.path} was written for another plan; keeping the stages whose "
                  "settings are unchanged")
            return {"plan": plan, "stages": stored.get("stages", {})}
        return stored

    def save(self) -> None:
        temporary = self.path.with_suffix(".json.tmp")
        temporary.write_text(compact_json(self.results))
        os.replace(temporary, self.path)

    def stage(self, name: str, settings: Any, run: Callable[[], dict[str, Any]]
              ) -> dict[str, Any]:
        """``run()``'s record, unless a record of ``name`` with the same settings exists."""
        key = settings_hash(settings)
        stored = self.results["stages"].get(name)
        if stored is not None and stored.get("key") == key:
            return stored["record"]
        if self.progress:
            print(f"[stage] {name}", flush=True)
        began = time.perf_counter()
        record = run()
        self.results["stages"][name] = {"key": key, "record": record,
                                        "seconds": time.perf_counter() - began,
                                        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                        "commit": self.results.get("commit", "unknown")}
        self.save()
        return record

    def stage_seconds(self) -> float:
        return sum(stage["seconds"] for stage in self.results["stages"].values())
