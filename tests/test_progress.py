"""The library's progress bars and their one switch (cnn2gnn_lib.progress)."""
import io

from cnn2gnn_lib import progress


def _drawn(**kwargs) -> str:
    out = io.StringIO()
    for _ in progress.tqdm(range(3), desc="work", file=out, **kwargs):
        pass
    return out.getvalue()


def test_bars_draw_unless_the_environment_silences_them(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert "work" in _drawn(disable=False)
    assert _drawn(disable=True) == ""          # a caller's progress=False still wins
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress.silenced()
    assert _drawn(disable=False) == ""         # the switch overrides a caller's request
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not progress.silenced() and "work" in _drawn(disable=False)
