"""Tests of cnn2gnn_lib.students.designs: GraphDesign and the study's design table."""
import dataclasses

import pytest

from cnn2gnn_lib import training
from cnn2gnn_lib.students import GNN_DESIGNS, MLP_DESIGNS, GNNStudent, GraphDesign


def test_the_default_design_is_the_paper():
    design = GraphDesign()
    assert (design.graph, design.s, design.graph_layers, design.graph_space) == (
        "learned", 10, "both", "shared")
    assert design.self_weight is None and design.self_loop_weight == 1.0
    assert design.sources == ("input", "input") and design.normalization == "sym"
    assert not design.uses_projection
    with pytest.raises(dataclasses.FrozenInstanceError):
        design.s = 3  # validated once: a design cannot change behind its back


@pytest.mark.parametrize("options, message", [
    ({"graph": "complete"}, "graph must be one of"),
    ({"graph_layers": "third"}, "graph_layers must be one of"),
    ({"graph_space": "pixels"}, "graph_space must be one of"),
    ({"s": 0}, "s must be an int >= 1, got 0"),
    ({"s": 2.5}, "s must be an int >= 1, got 2.5"),
    ({"s": True}, "s must be an int >= 1, got True"),
    ({"graph_space": "hidden", "graph_layers": "first"}, "graph_space='hidden'.*second layer"),
    ({"graph": "knn", "graph_space": "hidden"}, "graph_space='hidden'.*graph='learned'"),
    ({"graph": "knn", "graph_space": "projection"}, "graph_space='projection'.*graph='learned'"),
    ({"self_weight": 1.5},
     "self_weight must be None, 'learned' or a number in \\[0, 1\\], got 1.5"),
    ({"self_weight": -0.1}, "self_weight must be .*got -0.1"),
    ({"self_weight": "sometimes"}, "self_weight must be .*got 'sometimes'"),
    ({"self_weight": True}, "self_weight must be .*got True"),
    ({"projection_dim": 0}, "projection_dim must be >= 1, got 0")])
def test_bad_design_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        GraphDesign(**options)
    with pytest.raises(ValueError, match=message):  # the student validates through its design
        GNNStudent(784, 32, 10, **options)


@pytest.mark.parametrize("weight", [0, 0.0, 0.5, 1, 1.0, "learned", None])
def test_valid_self_weights_are_accepted(weight):
    design = GraphDesign(self_weight=weight)
    assert design.normalization == ("sym" if weight is None else "row")


@pytest.mark.parametrize("options, sources", [
    ({}, ("input", "input")),
    ({"graph": "knn"}, ("input", "input")),
    ({"graph_layers": "first"}, ("input", None)),
    ({"graph_layers": "second"}, (None, "input")),
    ({"graph_layers": "second", "graph_space": "hidden"}, (None, "hidden")),
    ({"graph_layers": "both", "graph_space": "hidden"}, ("input", "hidden")),
    ({"graph_space": "projection"}, ("input", "input"))])
def test_sources_say_where_each_layer_builds_its_graph(options, sources):
    design = GraphDesign(**options)
    assert design.sources == sources
    assert design.uses_projection == (options.get("graph_space") == "projection")


# every design of the study's table: (sources of the two layers, normalisation)
EXPECTED_GNN = {
    "paper": (("input", "input"), "sym"),
    "layer-2-only": ((None, "input"), "sym"),
    "layer-1-only": (("input", None), "sym"),
    "hidden-graph": ((None, "hidden"), "row"),
    "learned-self-weight": (("input", "input"), "row"),
    "projection": (("input", "input"), "sym"),
    "s-schedule": (("input", "input"), "sym"),
    "batch-1024": (("input", "input"), "sym"),
    "3-classes-per-batch": (("input", "input"), "sym"),
    "relation-kd": (("input", "input"), "sym"),
    "consistent-kd": (("input", "input"), "sym"),
}


def test_the_table_names_every_design_once():
    names = [d.name for d in GNN_DESIGNS + MLP_DESIGNS]
    assert len(names) == len(set(names))
    assert set(d.name for d in GNN_DESIGNS) == set(EXPECTED_GNN)
    assert [d.name for d in MLP_DESIGNS] == ["mlp", "mlp-consistent-kd"]
    assert all(d.description for d in GNN_DESIGNS + MLP_DESIGNS)


@pytest.mark.parametrize("design", GNN_DESIGNS, ids=lambda d: d.name)
def test_every_gnn_design_is_a_valid_student_config(design):
    cfg = training.StudentConfig(kind="gnn-learned", **design.overrides, teacher="t", alpha=0.5)
    for name, value in design.overrides.items():
        assert getattr(cfg, name) == value
    graph_design = cfg.design()
    sources, normalization = EXPECTED_GNN[design.name]
    assert graph_design.sources == sources
    assert graph_design.normalization == normalization


@pytest.mark.parametrize("design", MLP_DESIGNS, ids=lambda d: d.name)
def test_every_mlp_design_is_a_valid_student_config(design):
    cfg = training.StudentConfig(kind="mlp", **design.overrides, teacher="t", alpha=0.5)
    for name, value in design.overrides.items():
        assert getattr(cfg, name) == value
    with pytest.raises(ValueError, match="no graph design"):
        cfg.design()


def test_the_config_checks_graph_options_through_graph_design():
    with pytest.raises(ValueError, match="graph_space='hidden'"):
        training.StudentConfig(kind="gnn-knn", graph_space="hidden")
    with pytest.raises(ValueError, match="apply to graph students only"):
        training.StudentConfig(kind="mlp", graph_layers="first")
