"""Student designs: how a GNN student builds and uses its batch graph, validated in one place.

:class:`GraphDesign` is the single description of a graph student (nanoGPT's way: variants are
configuration, not branches inside the model). :class:`cnn2gnn_lib.students.GNNStudent` is
composed from it, :class:`cnn2gnn_lib.training.StudentConfig` checks its options through it,
and the study's design table below (:data:`GNN_DESIGNS`, :data:`MLP_DESIGNS`) names the
compositions that chapter 8 ("Results") compares.

Vocabulary, used everywhere in the library:

* **self-loop weight** ``w``: GCN normalisation adds ``w I`` to the graph before
  ``D^-1/2 (A + w I) D^-1/2``, so a node's own message enters through its degree;
* **self weight** ``lambda``: the share of its own message a node keeps when it mixes it with
  the mean of its neighbours', ``lambda * own + (1 - lambda) * D^-1 A``. ``None`` means GCN
  normalisation instead; ``"learned"`` makes ``lambda`` a trained parameter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GRAPH_KINDS = ("learned", "knn")
GRAPH_LAYERS = ("both", "first", "second")
GRAPH_SPACES = ("shared", "projection", "hidden")
# where a layer's graph is built: on the input embedding (raw pixels, X W1 or X P) or on the
# hidden states H1; None: the layer passes no messages
SOURCES = ("input", "hidden")


@dataclass(frozen=True)
class GraphDesign:
    """How a GNN student builds its graphs and mixes messages along them.

    graph: ``"learned"`` (the differentiable head) or ``"knn"`` (a fixed kNN graph on raw
        pixels, the baseline that learns nothing).
    s: neighbours per node (the head's sparsity; ``k`` of the kNN baseline).
    graph_layers: which layers pass messages: ``"both"`` (the paper), ``"first"`` or
        ``"second"``; a layer without a graph is a plain linear layer.
    graph_space: where the learned graph looks for neighbours: ``"shared"`` on ``X W1`` (graph
        and first layer share parameters, as in the paper), ``"projection"`` on a separate
        ``X P``, or ``"hidden"``: the second layer's graph is learned on the hidden states
        ``H1`` (a first layer with a graph keeps the shared space).
    self_weight: ``None`` (GCN normalisation, the paper), a number ``lambda`` in [0, 1], or
        ``"learned"`` (see the module docstring).
    self_loop_weight: ``w`` of GCN normalisation (used when ``self_weight`` is ``None``).
    projection_dim: width of the separate projection ``P``.
    """

    graph: str = "learned"
    s: int = 10
    graph_layers: str = "both"
    graph_space: str = "shared"
    self_weight: float | str | None = None
    self_loop_weight: float = 1.0
    projection_dim: int = 128

    def __post_init__(self):
        _check_choice("graph", self.graph, GRAPH_KINDS)
        _check_choice("graph_layers", self.graph_layers, GRAPH_LAYERS)
        _check_choice("graph_space", self.graph_space, GRAPH_SPACES)
        if isinstance(self.s, bool) or not isinstance(self.s, int) or self.s < 1:
            raise ValueError(f"s must be an int >= 1, got {self.s!r}")
        if self.graph_space == "hidden" and (self.graph != "learned"
                                             or self.graph_layers == "first"):
            raise ValueError("graph_space='hidden' learns the second layer's graph on the hidden "
                             "states: it needs graph='learned' and a graph in the second layer")
        if self.graph_space == "projection" and self.graph != "learned":
            raise ValueError("graph_space='projection' learns the graph on X P: it needs "
                             "graph='learned'")
        weight = self.self_weight
        if not (weight is None or weight == "learned" or (
                isinstance(weight, (int, float)) and not isinstance(weight, bool)
                and 0 <= weight <= 1)):
            raise ValueError(f"self_weight must be None, 'learned' or a number in [0, 1], got "
                             f"{weight!r}")
        if self.projection_dim < 1:
            raise ValueError(f"projection_dim must be >= 1, got {self.projection_dim}")

    @property
    def normalization(self) -> str:
        """``"sym"`` (GCN, with self-loops) without a self weight, else ``"row"``."""
        return "sym" if self.self_weight is None else "row"

    @property
    def head_options(self) -> dict:
        """The keywords of :func:`cnn2gnn_lib.graph.make_head` for this design's graph rule
        (the GNN's own head, and the MLP's label votes when it is compared with this GNN)."""
        return {"kind": self.graph, "s": self.s, "normalization": self.normalization,
                "self_loop_weight": self.self_loop_weight}

    @property
    def sources(self) -> tuple[str | None, str | None]:
        """Where each of the two layers builds its graph (:data:`SOURCES`, or None)."""
        first = "input" if self.graph_layers in ("both", "first") else None
        if self.graph_layers == "first":
            return first, None
        return first, "hidden" if self.graph_space == "hidden" else "input"

    @property
    def uses_projection(self) -> bool:
        return self.graph_space == "projection"


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


# --------------------------------------------------------------------------------------------
# The study's design table: named compositions, each a set of StudentConfig options


@dataclass(frozen=True)
class Design:
    """One named variant of a student: what it changes, as :class:`StudentConfig` options."""

    name: str
    description: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self.options)


GNN_DESIGNS = (
    Design("paper", "graph in both layers, learned on X W1, GCN self-loop (the main row)"),
    Design("layer-2-only", "graph only in the second layer", (("graph_layers", "second"),)),
    Design("layer-1-only", "graph only in the first layer", (("graph_layers", "first"),)),
    Design("hidden-graph", "graph only in layer 2, learned on the hidden states; a node keeps "
           "0.8 of itself", (("graph_layers", "second"), ("graph_space", "hidden"),
                             ("self_weight", 0.8))),
    Design("learned-self-weight", "both layers; how much a node keeps of itself is learned",
           (("self_weight", "learned"),)),
    Design("projection", "graph learned on a separate projection X P", (("graph_space",
                                                                         "projection"),)),
    Design("s-schedule", "s grows from 2 to s over the first half of training",
           (("s_start", 2),)),
    Design("batch-1024", "batches of 1024 images in training and in batch-mode testing",
           (("batch_size", 1024),)),
    Design("3-classes-per-batch", "every training batch holds images of 3 classes only",
           (("batch_classes", 3),)),
    Design("relation-kd", "adds relation distillation: edges pay the teacher's dissimilarity",
           (("relation_weight", 1.0),)),
    Design("consistent-kd", "2 augmented views of every image, teacher logits on the same views",
           (("augment_views", 2),)),
)
MLP_DESIGNS = (
    Design("mlp", "the MLP + KD of the main rows"),
    Design("mlp-consistent-kd", "2 augmented views of every image, teacher logits on the same "
           "views", (("augment_views", 2),)),
)


def design_named(name: str) -> Design:
    """The design of :data:`GNN_DESIGNS` or :data:`MLP_DESIGNS` called ``name``."""
    for design in GNN_DESIGNS + MLP_DESIGNS:
        if design.name == name:
            return design
    known = [d.name for d in GNN_DESIGNS + MLP_DESIGNS]
    raise ValueError(f"unknown design {name!r}; the design table has {known}")
