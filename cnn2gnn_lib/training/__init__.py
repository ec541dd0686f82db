"""Training: CNN teachers and GNN/MLP students, with checkpoints that resume and are reused.

* :mod:`~cnn2gnn_lib.training.checkpoints`: the file format, atomic saves, safe loads, the one
  train-or-load rule, the versions every file records;
* :mod:`~cnn2gnn_lib.training.teacher`: :class:`TeacherConfig`, the teacher loop and
  prediction (chapter 2, "The CNN teacher"); :mod:`~cnn2gnn_lib.training.teacher_logits`: the
  teacher's logits cached for the students, from one view or flip-averaged, on the images or
  on every view of a view plan (patient distillation);
* :mod:`~cnn2gnn_lib.training.student`: :class:`StudentConfig` and the student loop with
  weighted loss terms (chapters 5 and 6); :mod:`~cnn2gnn_lib.training.callbacks`: its epoch
  callbacks (the sparsity schedule, partial checkpoints);
* :mod:`~cnn2gnn_lib.training.pretrained`: the teachers shipped with the library, used by
  :func:`train_or_load` when the requested configuration matches one exactly;
* :mod:`~cnn2gnn_lib.training.distributed` and
  :mod:`~cnn2gnn_lib.training.distributed_student`: teachers and students on several processes
  under ``torchrun`` (chapter 9, "Scaling out").
"""
from ..student_data import StudentData
from .callbacks import Callback, SaveState, SparsitySchedule
from . import pretrained
from .checkpoints import CHECKPOINT_FORMAT, atomic_save, load_checkpoint, versions
from .student import (StudentConfig, StudentResult, epoch_batches, fit_student, load_student,
                      student_checkpoint_paths, student_train_or_load, train_student)
from .teacher import (TeacherConfig, TrainResult, checkpoint_paths, evaluate, load_teacher,
                      predict, teacher_splits, train_or_load, train_teacher)
from .teacher_logits import (cache_teacher_logits, cache_view_logits, dataset_fingerprint,
                             flip_averaged, teacher_name)

__all__ = ["CHECKPOINT_FORMAT", "Callback", "SaveState", "SparsitySchedule", "StudentConfig",
           "StudentData", "StudentResult", "TeacherConfig", "TrainResult", "atomic_save",
           "cache_teacher_logits", "cache_view_logits", "checkpoint_paths",
           "dataset_fingerprint", "epoch_batches", "evaluate", "fit_student", "flip_averaged",
           "load_checkpoint", "load_student", "load_teacher", "predict", "pretrained",
           "student_checkpoint_paths", "student_train_or_load", "teacher_name",
           "teacher_splits", "train_or_load", "train_student", "train_teacher", "versions"]
