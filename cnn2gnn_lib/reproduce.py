"""The study, end to end: ``python -m cnn2gnn_lib reproduce --dataset fashion-mnist``.

This module owns the experimental protocol of the book (``../shared/METHOD.md``, section 6) and
the files it writes under ``results/<dataset>/``:

* ``results.json``: every number, with the machine, versions, seeds, commit and the wall time of
  every stage;
* ``results.md``: the tables, generated from ``results.json``;
* ``learning_curves.png``, ``sweep_s.png``, ``sweep_temperature.png``, ``sweep_alpha.png``.

Protocol, in stage order:

1. teachers: the distilling teacher (ResNet-20) and a deeper CNN of the same family, trained
   on the training split, evaluated once on the test split;
2. the teacher's logits on the students' training images, computed once;
3. sweeps on the validation split (seed 0, short runs, learned-graph GNN with KD): sparsity
   ``s`` first, then temperature ``T`` at the best ``s``, then ``alpha`` at the best ``s`` and
   ``T``. The chosen values are the ones with the best validation accuracy, never test;
4. the main rows over several seeds: MLP, GNN on a fixed kNN graph, GNN with the learned graph,
   each without and with KD; test accuracy in batch mode and, for the GNNs, in anchor mode;
5. efficiency: parameters, FLOPs per image and measured images/s of teachers and students at
   the same batch size, in one process;
6. designs (does the learned graph earn its place?): every variant of :data:`GNN_DESIGNS`
   and :data:`MLP_DESIGNS` trained once (seed 0, sweep-length runs, the same KD settings:
   equal budgets), judged on
   the validation split in every inference mode (batch; anchor with a random or a k-means
   bank; anchor with the bank's labels voting, :meth:`GNNStudent.predict_anchor`); the best
   GNN design and the best MLP design are then trained on every seed and tested once, with
   the evidence that explains the difference (edge homophily, per-class accuracy, which test
   predictions the graph changes).

Every stage is recorded in ``results.json`` as soon as it finishes, and checkpoints go to the
artifacts folder, so running the command again skips finished stages and resumes interrupted
training.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from . import config, data, efficiency, students, training

KD_ROWS = (("mlp", False), ("mlp", True), ("gnn-knn", False), ("gnn-knn", True),
           ("gnn-learned", False), ("gnn-learned", True))


@dataclass(frozen=True)
class Design:
    """One variant of a student: a name, what it changes, and the StudentConfig options."""

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
LABEL_WEIGHTS = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class StudyPlan:
    """The settings of a study; :meth:`for_budget` gives the fast or full one."""

    dataset: str = "fashion-mnist"
    fast: bool = False
    teacher_arch: str = "resnet20"
    deep_arch: str = "resnet32"
    teacher_epochs: int = 20
    deep_epochs: int = 20
    seeds: tuple[int, ...] = (0, 1, 2)
    student_epochs: int = 30
    sweep_epochs: int = 10
    hidden: int = 512
    batch_size: int = 256
    s_values: tuple[int, ...] = (3, 5, 10, 20)
    temperatures: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    alphas: tuple[float, ...] = (0.5, 0.7, 0.9, 1.0)
    default_s: int = 10
    default_temperature: float = 4.0
    default_alpha: float = 0.9
    bank_size: int = 10000
    throughput_batch: int = 256
    designs: bool = True

    @classmethod
    def for_budget(cls, fast: bool | None = None, **overrides: Any) -> "StudyPlan":
        plan = config.budget(fast)
        values: dict[str, Any] = dict(fast=plan.fast, teacher_epochs=plan.teacher_epochs,
                                      deep_epochs=plan.teacher_epochs,
                                      student_epochs=plan.student_epochs)
        if plan.fast:
            values.update(sweep_epochs=2, bank_size=500, s_values=(5, 10),
                          temperatures=(2.0, 4.0), alphas=(0.5, 0.9))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        # the results the study writes are data, not code: they do not make the commit dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout
        return (sha + ("+uncommitted" if dirty.strip() else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_NUMBER_LIST = re.compile(r"\[\s*-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*\s*\]")


def compact_json(obj: Any) -> str:
    """Indented JSON with every list of plain numbers on one line (per-image predictions stay
    readable in a diff instead of taking one line per image)."""
    text = json.dumps(obj, indent=2, default=str)
    return _NUMBER_LIST.sub(lambda m: "[" + re.sub(r"\s+", " ", m.group(0)[1:-1].strip()) + "]",
                            text)


def _key(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


class Study:
    """Runs a :class:`StudyPlan` stage by stage, recording into ``results.json``."""

    def __init__(self, plan: StudyPlan, results_dir: str | os.PathLike = "results",
                 artifacts: str | os.PathLike | None = None, device: str | None = None,
                 root: str | os.PathLike | None = None, progress: bool = True):
        self.plan, self.root, self.progress = plan, root, progress
        self.device = config.pick_device(device)
        self.artifacts = config.artifacts_dir(artifacts)
        self.folder = Path(results_dir) / data.dataset_info(plan.dataset).name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "results.json"
        self.results = self._load()
        self._teachers: dict[tuple[str, int], training.TrainResult] = {}
        self._logits: torch.Tensor | None = None
        self._kmeans: tuple[torch.Tensor, torch.Tensor] | None = None  # one per study's split

    # -- bookkeeping ------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        plan = json.loads(json.dumps(self.plan.to_dict()))  # tuples become lists, as stored
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

    def _save(self) -> None:
        temporary = self.path.with_suffix(".json.tmp")
        temporary.write_text(compact_json(self.results))
        os.replace(temporary, self.path)

    def stage(self, name: str, settings: Any, run: Callable[[], dict[str, Any]]
              ) -> dict[str, Any]:
        """Run ``run()`` unless a record of ``name`` with the same settings exists."""
        key = _key(settings)
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
        self._save()
        return record

    # -- pieces -----------------------------------------------------------------------------

    def teacher_config(self, arch: str, epochs: int) -> training.TeacherConfig:
        return training.TeacherConfig.for_budget(self.plan.fast, dataset=self.plan.dataset,
                                                 arch=arch, epochs=epochs)

    def teacher(self, arch: str, epochs: int) -> training.TrainResult:
        """The trained teacher (trained, or loaded once per study)."""
        if (arch, epochs) not in self._teachers:
            self._teachers[arch, epochs] = training.train_or_load(
                self.teacher_config(arch, epochs), self.device, self.artifacts, self.root,
                self.progress)
        return self._teachers[arch, epochs]

    def student_config(self, kind: str, kd: bool, seed: int, epochs: int, s: int,
                       temperature: float, alpha: float, **options: Any
                       ) -> training.StudentConfig:
        teacher = self.teacher_config(self.plan.teacher_arch, self.plan.teacher_epochs)
        values = dict(dataset=self.plan.dataset, kind=kind, hidden=self.plan.hidden,
                      s=s, epochs=epochs, batch_size=self.plan.batch_size, seed=seed,
                      alpha=alpha if kd else 0.0, temperature=temperature,
                      teacher=teacher.name() if kd else None)
        values.update(options)
        return training.StudentConfig.for_budget(self.plan.fast, **values)

    def teacher_logits(self) -> torch.Tensor:
        """The teacher's logits on the students' training pool (computed once, cached)."""
        if self._logits is None:
            teacher = self.teacher(self.plan.teacher_arch, self.plan.teacher_epochs)
            pool = training.student_pool(self.student_config("mlp", False, 0, 1, 1, 1.0, 0.0),
                                         self.root)
            self._logits = training.cache_teacher_logits(teacher, pool, self.artifacts,
                                                         self.device, self.progress)
        return self._logits

    def train(self, cfg: training.StudentConfig) -> training.StudentResult:
        final, _ = training.student_checkpoint_paths(cfg, self.artifacts)
        logits = None
        if (cfg.alpha > 0 or cfg.relation_weight > 0) and not final.is_file():
            if cfg.augment_views > 0:  # the teacher's answers on exactly the student's views
                teacher = self.teacher(self.plan.teacher_arch, self.plan.teacher_epochs)
                logits = training.cache_teacher_logits(
                    teacher, training.student_train_set(cfg, self.root), self.artifacts,
                    self.device, self.progress)
            else:
                logits = self.teacher_logits()
        return training.student_train_or_load(cfg, logits, self.artifacts, self.root,
                                              self.progress, self.device)

    def test_features(self):
        test = data.load_dataset(self.plan.dataset, "test", self.root)
        test = data.balanced_subset(test, config.budget(self.plan.fast).test_per_class, 0)
        return data.flat_features(test), test.targets

    def val_features(self, cfg: training.StudentConfig):
        _, val = training.student_data(cfg, self.root)
        return data.flat_features(val), val.targets

    def anchor_bank_data(self, cfg: training.StudentConfig, method: str = "random"):
        """``(bank_x, bank_labels, teacher_probs)``: the anchor bank drawn from the student's
        training split (never validation or test). ``teacher_probs`` is ``None`` for a k-means
        bank, whose anchors are centres, not images."""
        train, _ = training.student_data(cfg, self.root)
        per_class = max(1, self.plan.bank_size // train.info.num_classes)
        if method == "kmeans":
            if self._kmeans is None:
                self._kmeans = students.choose_bank(data.flat_features(train), train.targets,
                                                    per_class * train.info.num_classes,
                                                    "kmeans", seed=0)
            return (*self._kmeans, None)
        bank = data.balanced_subset(train, per_class, seed=0)
        pool = training.student_pool(cfg, self.root)
        logits = self.teacher_logits()
        rows = (bank.indices if logits.shape[0] != len(pool)
                else torch.searchsorted(pool.indices, bank.indices))
        return data.flat_features(bank), bank.targets, logits[rows].softmax(1)

    def anchor_bank(self, cfg: training.StudentConfig) -> torch.Tensor:
        return self.anchor_bank_data(cfg)[0]

    # -- the study --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        plan, began = self.plan, time.perf_counter()
        self.results.update(machine=training.versions(), commit=_commit(),
                            platform=platform.platform(), mode="fast" if plan.fast else "full",
                            device=str(self.device))
        teachers = {}
        for role, arch, epochs in (("teacher", plan.teacher_arch, plan.teacher_epochs),
                                   ("deep", plan.deep_arch, plan.deep_epochs)):
            cfg = self.teacher_config(arch, epochs)
            teachers[role] = self.stage(f"teacher:{arch}", cfg.to_dict(),
                                        lambda arch=arch, epochs=epochs: self._teacher_record(
                                            arch, epochs))
        self.stage("teacher-logits", self.teacher_config(plan.teacher_arch,
                                                         plan.teacher_epochs).to_dict(),
                   lambda: {"shape": list(self.teacher_logits().shape)})
        chosen = self._sweeps()
        rows = self._main_rows(chosen)
        efficiency_plan = {k: v for k, v in plan.to_dict().items() if k != "designs"}
        self.results["efficiency"] = self.stage("efficiency", [efficiency_plan, chosen],
                                                lambda: self._efficiency(chosen))
        self.results.update(teachers=teachers, chosen=chosen, students=rows)
        if plan.designs:
            self.results["designs"] = self._designs(chosen)
        stage_seconds = sum(s["seconds"] for s in self.results["stages"].values())
        self.results["wall_seconds"] = {"this_run": time.perf_counter() - began,
                                        "all_stages": stage_seconds}
        self._save()
        from .report import write_report

        write_report(self.results, self.folder)
        return self.results

    def _teacher_record(self, arch: str, epochs: int) -> dict[str, Any]:
        result = self.teacher(arch, epochs)
        return {"arch": arch, "config": result.config.to_dict(), "metrics": result.metrics,
                "history": result.history, "checkpoint": result.path.name}

    def _sweep_value(self, name: str, s: int, temperature: float, alpha: float) -> float:
        cfg = self.student_config("gnn-learned", True, 0, self.plan.sweep_epochs, s,
                                  temperature, alpha)
        record = self.stage(name, cfg.to_dict(), lambda: {
            "val_accuracy": self.train(cfg).metrics["val_accuracy"]})
        return record["val_accuracy"]

    def _sweeps(self) -> dict[str, Any]:
        plan = self.plan
        sweeps: dict[str, list[dict[str, float]]] = {"s": [], "temperature": [], "alpha": []}
        for s in plan.s_values:
            value = self._sweep_value(f"sweep:s={s}", s, plan.default_temperature,
                                      plan.default_alpha)
            sweeps["s"].append({"value": s, "val_accuracy": value})
        best_s = max(sweeps["s"], key=lambda r: r["val_accuracy"])["value"]
        for temperature in plan.temperatures:
            value = self._sweep_value(f"sweep:T={temperature:g}", best_s, temperature,
                                      plan.default_alpha)
            sweeps["temperature"].append({"value": temperature, "val_accuracy": value})
        best_t = max(sweeps["temperature"], key=lambda r: r["val_accuracy"])["value"]
        for alpha in plan.alphas:
            value = self._sweep_value(f"sweep:alpha={alpha:g}", best_s, best_t, alpha)
            sweeps["alpha"].append({"value": alpha, "val_accuracy": value})
        best_alpha = max(sweeps["alpha"], key=lambda r: r["val_accuracy"])["value"]
        self.results["sweeps"] = sweeps
        return {"s": best_s, "temperature": best_t, "alpha": best_alpha,
                "chosen_on": "validation split, seed 0, learned-graph GNN with KD"}

    def _evaluate(self, result: training.StudentResult) -> dict[str, Any]:
        x_test, y_test = self.test_features()
        model = result.model.to("cpu").eval()
        logits = students.predict_batches(model, x_test, self.plan.batch_size)
        record = {"val_accuracy": result.metrics["val_accuracy"],
                  "best_epoch": result.metrics["best_epoch"],
                  "train_seconds": result.metrics["train_seconds"],
                  "test_batch_accuracy": (logits.argmax(1) == y_test).float().mean().item(),
                  "history": result.history}
        if isinstance(model, students.GNNStudent):
            bank = model.build_anchor_bank(self.anchor_bank(result.config))
            anchor = model.predict_anchor(x_test, bank)
            record["test_anchor_accuracy"] = (anchor.argmax(1) == y_test).float().mean().item()
            record["bank_size"] = bank.size
        return record

    def _main_rows(self, chosen: dict[str, Any]) -> list[dict[str, Any]]:
        rows = []
        for kind, kd in KD_ROWS:
            per_seed = []
            for seed in self.plan.seeds:
                cfg = self.student_config(kind, kd, seed, self.plan.student_epochs, chosen["s"],
                                          chosen["temperature"], chosen["alpha"])
                name = f"student:{kind}{'+kd' if kd else ''}:seed={seed}"
                per_seed.append(self.stage(name, cfg.to_dict(),
                                           lambda cfg=cfg: self._evaluate(self.train(cfg))))
            row: dict[str, Any] = {"student": kind, "kd": kd, "seeds": list(self.plan.seeds),
                                   "per_seed": per_seed}
            for metric in ("val_accuracy", "test_batch_accuracy", "test_anchor_accuracy"):
                if metric in per_seed[0]:
                    row[metric] = _mean_std([r[metric] for r in per_seed])
            rows.append(row)
        return rows

    # -- designs: does the learned graph earn its place? --------------------------------------

    def design_config(self, kind: str, design: Design, chosen: dict[str, Any], seed: int = 0,
                      final: bool = False) -> training.StudentConfig:
        """A design's configuration: short (sweep-length) runs to compare designs, the full
        student schedule for the finals."""
        epochs = self.plan.student_epochs if final else self.plan.sweep_epochs
        return self.student_config(kind, True, seed, epochs, chosen["s"],
                                   chosen["temperature"], chosen["alpha"], **design.overrides)

    def _modes(self, model, cfg: training.StudentConfig, x: torch.Tensor, y: torch.Tensor
               ) -> dict[str, float]:
        """Accuracy of ``model`` on ``(x, y)`` in every inference mode it has."""
        def accuracy(logits: torch.Tensor) -> float:
            return (logits.argmax(1) == y).float().mean().item()

        model = model.to("cpu").eval()
        found = {"batch": accuracy(students.predict_batches(model, x, cfg.batch_size))}
        if not isinstance(model, students.GNNStudent):
            return found
        bank_x, bank_y, bank_teacher = self.anchor_bank_data(cfg)
        bank = model.build_anchor_bank(bank_x, labels=bank_y)
        found["anchor"] = accuracy(model.predict_anchor(x, bank))
        for beta in LABEL_WEIGHTS:
            found[f"anchor+labels:{beta:g}"] = accuracy(model.predict_anchor(x, bank,
                                                                             label_weight=beta))
        soft = dataclasses.replace(bank, labels=bank_teacher)  # same anchors, teacher's labels
        for beta in LABEL_WEIGHTS:
            found[f"anchor+teacher-labels:{beta:g}"] = accuracy(
                model.predict_anchor(x, soft, label_weight=beta))
        k_x, k_y, _ = self.anchor_bank_data(cfg, "kmeans")
        kmeans = model.build_anchor_bank(k_x, labels=k_y)
        found["anchor-kmeans"] = accuracy(model.predict_anchor(x, kmeans))
        return found

    def _predict(self, model, cfg: training.StudentConfig, x: torch.Tensor, mode: str
                 ) -> torch.Tensor:
        """Logits of ``x`` in one named mode of :meth:`_modes`."""
        model = model.to("cpu").eval()
        if mode == "batch":
            return students.predict_batches(model, x, cfg.batch_size)
        name, _, beta = mode.partition(":")
        method = "kmeans" if name == "anchor-kmeans" else "random"
        bank_x, bank_y, bank_teacher = self.anchor_bank_data(cfg, method)
        labels = bank_teacher if name == "anchor+teacher-labels" else bank_y
        bank = model.build_anchor_bank(bank_x, labels=labels)
        return model.predict_anchor(x, bank, label_weight=float(beta) if beta else 0.0)

    def _design_record(self, kind: str, design: Design, chosen: dict[str, Any]
                       ) -> dict[str, Any]:
        cfg = self.design_config(kind, design, chosen)
        result = self.train(cfg)
        x_val, y_val = self.val_features(cfg)
        record: dict[str, Any] = {
            "design": design.name, "description": design.description, "student": kind,
            "options": design.overrides, "train_seconds": result.metrics["train_seconds"],
            "best_epoch": result.metrics["best_epoch"],
            "val": self._modes(result.model, cfg, x_val, y_val),
            "history": result.history}
        model = result.model
        if isinstance(model, students.GNNStudent):
            record["val_batch_homophily"] = students.batch_graph_homophily(
                model, x_val, y_val, cfg.batch_size)
            if model.self_logit is not None:
                record["learned_self_weight"] = float(model.self_share().detach())
        return record

    def _finals(self, kind: str, design: Design, mode: str, chosen: dict[str, Any],
                x_test: torch.Tensor, y_test: torch.Tensor) -> dict[str, Any]:
        """The chosen design of ``kind`` on every seed, tested once in its chosen mode."""
        per_seed = []
        for seed in self.plan.seeds:
            cfg = self.design_config(kind, design, chosen, seed, final=True)

            def run(cfg=cfg) -> dict[str, Any]:
                result = self.train(cfg)
                logits = self._predict(result.model, cfg, x_test, mode)
                record = {"val_accuracy": result.metrics["val_accuracy"],
                          "test_accuracy": (logits.argmax(1) == y_test).float().mean().item(),
                          "predictions": logits.argmax(1).tolist()}
                if mode != "batch":
                    batch = self._predict(result.model, cfg, x_test, "batch")
                    record["test_batch_accuracy"] = (batch.argmax(1) == y_test
                                                     ).float().mean().item()
                return record

            per_seed.append(self.stage(f"final:{design.name}:{mode}:seed={seed}",
                                       [cfg.to_dict(), mode], run))
        return {"design": design.name, "student": kind, "mode": mode,
                "description": design.description, "seeds": list(self.plan.seeds),
                "per_seed": per_seed,
                "test_accuracy": _mean_std([r["test_accuracy"] for r in per_seed])}

    def _designs(self, chosen: dict[str, Any]) -> dict[str, Any]:
        records = {}
        for kind, designs in (("gnn-learned", GNN_DESIGNS), ("mlp", MLP_DESIGNS)):
            for design in designs:
                cfg = self.design_config(kind, design, chosen)
                records[design.name] = self.stage(
                    f"design:{design.name}", cfg.to_dict(),
                    lambda kind=kind, design=design: self._design_record(kind, design, chosen))

        def best(designs: tuple[Design, ...]) -> tuple[Design, str, float]:
            options = [(d, mode, value) for d in designs
                       for mode, value in records[d.name]["val"].items()]
            return max(options, key=lambda item: item[2])

        gnn, gnn_mode, gnn_val = best(GNN_DESIGNS)
        mlp, mlp_mode, mlp_val = best(MLP_DESIGNS)
        x_test, y_test = self.test_features()
        finals = {"gnn": self._finals("gnn-learned", gnn, gnn_mode, chosen, x_test, y_test),
                  "mlp": self._finals("mlp", mlp, mlp_mode, chosen, x_test, y_test)}
        finals["gnn"]["design_val_accuracy"] = gnn_val
        finals["mlp"]["design_val_accuracy"] = mlp_val
        finals["evidence"] = self._evidence(finals, x_test, y_test, chosen, gnn)
        return {"records": list(records.values()), "finals": finals,
                "label_weights": list(LABEL_WEIGHTS),
                "design_epochs": self.plan.sweep_epochs, "final_epochs": self.plan.student_epochs,
                "chosen_on": "validation split, seed 0; test read once per final seed"}

    def _evidence(self, finals: dict[str, Any], x_test: torch.Tensor, y_test: torch.Tensor,
                  chosen: dict[str, Any], gnn_design: Design) -> dict[str, Any]:
        """Why the two final students differ: per-class accuracy, where their predictions part,
        and how homophilous the GNN's test graphs are (seed 0 of each)."""
        classes = int(y_test.max()) + 1
        gnn = torch.tensor(finals["gnn"]["per_seed"][0]["predictions"])
        mlp = torch.tensor(finals["mlp"]["per_seed"][0]["predictions"])

        def per_class(pred: torch.Tensor) -> list[float]:
            return [(pred[y_test == c] == c).float().mean().item() for c in range(classes)]

        differ = gnn != mlp
        cfg = self.design_config("gnn-learned", gnn_design, chosen, final=True)
        model = self.train(cfg).model.to("cpu").eval()
        return {"per_class_gnn": per_class(gnn), "per_class_mlp": per_class(mlp),
                "classes": data.dataset_info(self.plan.dataset).classes,
                "predictions_differ": differ.float().mean().item(),
                "gnn_right_mlp_wrong": ((gnn == y_test) & (mlp != y_test)).sum().item(),
                "mlp_right_gnn_wrong": ((mlp == y_test) & (gnn != y_test)).sum().item(),
                "both_wrong_differently": (differ & (gnn != y_test) & (mlp != y_test)
                                           ).sum().item(),
                "test_images": len(y_test),
                "test_batch_homophily": students.batch_graph_homophily(model, x_test, y_test,
                                                                       cfg.batch_size)}

    def _efficiency(self, chosen: dict[str, Any]) -> dict[str, Any]:
        plan = self.plan
        test = data.load_dataset(plan.dataset, "test", self.root)
        images = test.images[:plan.throughput_batch].float().div(255)
        flat = data.flat_features(test.select(torch.arange(plan.throughput_batch)))
        records = []
        for arch, epochs in ((plan.teacher_arch, plan.teacher_epochs),
                             (plan.deep_arch, plan.deep_epochs)):
            model = self.teacher(arch, epochs).model.to("cpu").eval()
            model.to(memory_format=torch.channels_last)
            batch = images.contiguous(memory_format=torch.channels_last)
            records.append({**efficiency.profile(arch, model, batch), "role": "teacher"})
        for kind in ("mlp", "gnn-learned"):
            cfg = self.student_config(kind, True, plan.seeds[0], plan.student_epochs,
                                      chosen["s"], chosen["temperature"], chosen["alpha"])
            model = self.train(cfg).model.to("cpu").eval()
            if kind == "mlp":
                records.append({**efficiency.profile("MLP student", model, flat),
                                "role": "student"})
                continue
            model.backend = "torch"  # the faster backend on CPU (same numbers as DGL)
            records.append({**efficiency.profile("GNN student, batch mode", model, flat),
                            "role": "student"})
            bank = model.build_anchor_bank(self.anchor_bank(cfg))
            anchor = efficiency.profile(
                "GNN student, anchor mode", model, flat,
                run=lambda x: model.predict_anchor(x, bank),
                flops=efficiency.anchor_flops_per_image(model, bank, flat))
            anchor["bank_size"] = bank.size
            records.append({**anchor, "role": "student"})
        teacher_rate = records[0]["images_per_second"]
        for record in records:
            record["speedup_vs_teacher"] = record["images_per_second"] / teacher_rate
        return {"device": "cpu", "threads": torch.get_num_threads(), "records": records}


def reproduce(dataset: str = "fashion-mnist", fast: bool | None = None,
              results_dir: str | os.PathLike = "results",
              artifacts: str | os.PathLike | None = None, device: str | None = None,
              root: str | os.PathLike | None = None, progress: bool = True,
              **plan_overrides: Any) -> dict[str, Any]:
    """Run (or finish) the study for ``dataset`` and return ``results.json``'s content."""
    plan = StudyPlan.for_budget(fast, dataset=data.dataset_info(dataset).name, **plan_overrides)
    return Study(plan, results_dir, artifacts, device, root, progress).run()
