"""cnn2gnn_lib.study.stats: seed summaries and the paired GNN-versus-MLP verdict."""
import math

import pytest

from cnn2gnn_lib.study.stats import mean_std, paired_difference, t_quantile


def test_mean_std():
    summary = mean_std([0.8, 0.9, 1.0])
    assert summary["mean"] == pytest.approx(0.9) and summary["std"] == pytest.approx(0.1)
    assert (summary["min"], summary["max"], summary["n"]) == (0.8, 1.0, 3)
    assert mean_std([0.5])["std"] == 0.0


def test_t_quantiles_are_students():
    assert t_quantile(0.975, 4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(0.975, 100000) == pytest.approx(1.95996, abs=1e-4)  # the normal


def test_an_interval_holding_zero_is_no_difference():
    # differences 1, 2, 3 (x 0.01): mean 2, sd 1; t(0.975, 2) = 4.3027
    found = paired_difference([0.51, 0.52, 0.53], [0.50, 0.50, 0.50], ("GNN", "MLP"))
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert found["mean"] == pytest.approx(0.02) and found["std"] == pytest.approx(0.01)
    assert found["ci"] == pytest.approx([0.02 - half, 0.02 + half], abs=1e-6)
    assert found["verdict"] == "no difference"
    assert found["per_seed"] == pytest.approx([0.01, 0.02, 0.03])


def test_a_consistent_difference_names_the_better_model():
    gnn = [0.80, 0.81, 0.79, 0.80, 0.82]
    mlp = [g + 0.02 + 0.001 * i for i, g in enumerate(gnn)]
    found = paired_difference(gnn, mlp, ("GNN", "MLP"))
    assert found["ci"][1] < 0 and found["verdict"] == "MLP better"
    assert paired_difference(mlp, gnn, ("MLP", "GNN"))["verdict"] == "MLP better"


def test_pairs_must_match():
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([0.5, 0.6], [0.5])
    assert paired_difference([0.6], [0.5])["ci"] is None
