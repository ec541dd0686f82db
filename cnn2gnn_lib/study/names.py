"""The names the study writes into ``results.json`` and the report and plots read back.

One place for them, so a table, a plot and the JSON can never disagree about what a row is.
"""
from __future__ import annotations

from typing import Any

# the main rows: every student kind without and with distillation
KD_ROWS = (("mlp", False), ("mlp", True), ("gnn-knn", False), ("gnn-knn", True),
           ("gnn-learned", False), ("gnn-learned", True))
STUDENT_NAMES = {"mlp": "MLP", "gnn-knn": "GNN, fixed kNN graph",
                 "gnn-learned": "GNN, learned graph"}

# the models of the efficiency table
MLP_MODEL = "MLP student"
GNN_BATCH_MODEL = "GNN student, batch mode"
GNN_ANCHOR_MODEL = "GNN student, anchor mode"
GNN_COMPACT_ANCHOR_MODEL = "GNN student, anchor mode, k-means bank"

# the metrics of a main row, by inference mode
TEST_BATCH = "test_batch_accuracy"
TEST_ANCHOR = "test_anchor_accuracy"


def teacher_label(record: dict[str, Any]) -> str:
    """A teacher's architecture, marked when it answers flip-averaged (a teacher record of
    ``results.json``, or a teacher's efficiency record)."""
    flipped = record.get("test_time_flip") or record.get("metrics", {}).get("test_time_flip")
    return record.get("arch", record.get("model")) + (", flip-averaged" if flipped else "")
