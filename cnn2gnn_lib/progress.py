"""Progress bars: tqdm's, with one switch to silence them all.

Every long loop of the library draws a bar unless its caller passes ``progress=False``. Setting
the environment variable ``TQDM_DISABLE=1`` silences every bar even where the caller asked for
one: ``scripts/notebooks.py run`` sets it, so that the chapters' committed outputs hold no rows
of block characters, while a reader running a chapter still sees the bars.
"""
from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm as _tqdm


def silenced() -> bool:
    """Whether ``TQDM_DISABLE`` asks for no progress bars."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")


def tqdm(*args: Any, **kwargs: Any) -> _tqdm:
    """:class:`tqdm.auto.tqdm`, disabled when :func:`silenced`."""
    if silenced():
        kwargs["disable"] = True
    return _tqdm(*args, **kwargs)
