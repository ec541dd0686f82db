import pytest
import torch

from cnn2gnn_lib.training import precision


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv("CNN2GNN_PRECISION", raising=False)
    monkeypatch.setattr(precision, "_announced", set())


def _fake(capability):
    return lambda device: capability


@pytest.mark.parametrize("capability, dtype, scaled", [
    ((7, 5), torch.float16, True),    # T4 (Colab): no bfloat16 convolutions in cuDNN
    ((7, 0), torch.float16, True),    # V100
    ((8, 0), torch.bfloat16, False),  # A100
    ((9, 0), torch.bfloat16, False),  # H100
])
def test_the_choice_follows_the_compute_capability(capability, dtype, scaled):
    chosen = precision.choose("cuda", _fake(capability), announce=False)
    assert chosen.dtype == dtype and chosen.scaled == scaled
    assert f"compute capability {capability[0]}.{capability[1]}" in chosen.describe()


def test_the_cpu_trains_in_float32_without_a_scaler():
    chosen = precision.choose("cpu", _fake((9, 0)))
    assert chosen.dtype is None and not chosen.scaled
    with chosen.autocast():
        assert torch.ones(2, 2) @ torch.ones(2, 2) is not None
        assert not torch.is_autocast_enabled("cpu")
    assert not chosen.scaler().is_enabled()


def test_the_choice_is_printed_once_per_device(capsys):
    for _ in range(3):
        precision.choose("cuda", _fake((7, 5)))
    out = capsys.readouterr().out
    assert out.count("mixed precision: float16 autocast with a gradient scaler") == 1
    precision.choose("cpu")
    assert capsys.readouterr().out == ""  # nothing to announce on the CPU


def test_an_override_wins_and_a_bad_one_is_named(monkeypatch):
    monkeypatch.setenv("CNN2GNN_PRECISION", "fp32")
    assert precision.choose("cuda", _fake((9, 0)), announce=False).dtype is None
    monkeypatch.setenv("CNN2GNN_PRECISION", "bf16")
    assert precision.choose("cuda", _fake((7, 5)), announce=False).dtype == torch.bfloat16
    monkeypatch.setenv("CNN2GNN_PRECISION", "half")
    with pytest.raises(ValueError, match="CNN2GNN_PRECISION='half'"):
        precision.choose("cuda", _fake((9, 0)))
