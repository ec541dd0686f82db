"""The study: the book's experimental protocol, in parts (chapter 8 of the book, "Results").

* :mod:`~cnn2gnn_lib.study.stages`: the stage log, ``results.json`` (load, save, a stage keyed
  by the hash of its settings, resumable);
* :mod:`~cnn2gnn_lib.study.lab`: :class:`StudyPlan` and the :class:`Lab` that builds each
  configuration, teacher, data split and student once;
* :mod:`~cnn2gnn_lib.study.inference`: the table of named inference modes and the predictor
  that runs a student in any of them;
* :mod:`~cnn2gnn_lib.study.protocol`: the protocol steps (teachers, sweeps, main rows,
  efficiency, designs, finals, evidence) as plain functions;
* :mod:`~cnn2gnn_lib.study.protocol_stage`: the protocol stage (every way of forming test
  batches, chapter 7 of the book) and its tables;
* :mod:`~cnn2gnn_lib.study.patient_stage`: patient distillation and the label trick, how close
  an honest two-layer student gets (run when the plan asks for it);
* :mod:`~cnn2gnn_lib.study.design_tables`, :mod:`~cnn2gnn_lib.study.readings` and
  :mod:`~cnn2gnn_lib.study.formatting`: the design study's tables, what the results support,
  and how numbers and protocols are written;
* :mod:`~cnn2gnn_lib.study.names`: the row and model names that ``results.json``, the report
  and the plots share.

:func:`cnn2gnn_lib.reproduce.reproduce` runs the steps in order.
"""
from .inference import LABEL_WEIGHTS, MODES, InferenceMode, Predictor, modes_of
from .lab import Lab, StudyPlan
from .names import KD_ROWS, STUDENT_NAMES
from .stages import StageLog, compact_json

__all__ = ["InferenceMode", "KD_ROWS", "LABEL_WEIGHTS", "Lab", "MODES", "Predictor",
           "STUDENT_NAMES", "StageLog", "StudyPlan", "compact_json", "modes_of"]
