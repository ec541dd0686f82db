"""One test per stage of the study's protocol, on a tiny fast-mode plan (real images)."""
import json

import pytest

from cnn2gnn_lib import reproduce
from cnn2gnn_lib.students import GNN_DESIGNS, MLP_DESIGNS, design_named
from cnn2gnn_lib.study import (KD_ROWS, MODES, Lab, StageLog, StudyPlan, names,
                               patient_stage, protocol, protocol_stage)

TINY = dict(seeds=(0,), final_seeds=(0, 1), teacher_epochs=1, deep_epochs=1, student_epochs=2,
            sweep_epochs=2, hidden=32, s_values=(3, 5), temperatures=(2.0,), alphas=(0.5,),
            bank_size=100, compact_bank_sizes=(20, 30))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    plan = StudyPlan.for_budget(True, **TINY)
    lab = Lab(plan, folder / "artifacts", "cpu", progress=False)
    return lab, StageLog(folder / "results" / "results.json", plan.to_dict(), progress=False)


@pytest.fixture(scope="module")
def chosen(study):
    return protocol.sweeps(*study)


def test_teachers(study):
    lab, log = study
    found = protocol.teachers(lab, log)
    assert {t["arch"] for t in found.values()} == {"resnet20", "resnet32"}
    for record in found.values():
        assert 0.1 < record["metrics"]["test_accuracy"] <= 1
        assert record["checkpoint"].endswith(".pt")
    assert log.results["stages"]["teacher-logits"]["record"]["shape"] == [3000, 10]
    finished = log.results["stages"]["teacher:resnet20"]["finished"]
    assert protocol.teachers(lab, log) == found  # a second call reuses the stages
    assert log.results["stages"]["teacher:resnet20"]["finished"] == finished


def test_sweeps_choose_on_validation(study, chosen):
    _, log = study
    sweeps = log.results["sweeps"]
    assert [r["value"] for r in sweeps["s"]] == [3, 5]
    assert chosen["s"] == max(sweeps["s"], key=lambda r: r["val_accuracy"])["value"]
    assert chosen["temperature"] == 2.0 and chosen["alpha"] == 0.5
    assert "validation" in chosen["chosen_on"]
    assert {"sweep:s=3", "sweep:s=5", "sweep:T=2", "sweep:alpha=0.5"} <= set(
        log.results["stages"])


def test_main_rows(study, chosen):
    rows = protocol.main_rows(*study, chosen)
    assert [(r["student"], r["kd"]) for r in rows] == list(KD_ROWS)
    for row in rows:
        assert row["seeds"] == [0] and len(row["per_seed"]) == 1
        assert 0.1 < row[names.TEST_BATCH]["mean"] <= 1
        assert (names.TEST_ANCHOR in row) == row["student"].startswith("gnn")
    gnn = rows[-1]["per_seed"][0]
    assert gnn["bank_size"] == 100 and len(gnn["history"]) == 2
    # every accuracy names its protocol: shuffled batches of the plan's size, or anchor mode
    assert gnn["protocols"][names.TEST_BATCH] == (
        "shuffled test batches (seed 0) of 256 (transductive)")
    assert "bank of 100 training images (inductive)" in gnn["protocols"][names.TEST_ANCHOR]


def test_efficiency(study, chosen):
    records = {r["model"]: r for r in protocol.efficiency(*study, chosen)["records"]}
    assert set(records) == {"resnet20", "resnet32", names.MLP_MODEL, names.GNN_BATCH_MODEL,
                            names.GNN_ANCHOR_MODEL, names.GNN_COMPACT_ANCHOR_MODEL}
    assert records["resnet20"]["speedup_vs_teacher"] == 1.0
    assert records["resnet20"]["flops_per_image"] > records[names.MLP_MODEL]["flops_per_image"]
    # message passing costs FLOPs the MLP does not have; the same weights otherwise
    assert (records[names.GNN_BATCH_MODEL]["flops_per_image"]
            > records[names.MLP_MODEL]["flops_per_image"])
    full, compact = records[names.GNN_ANCHOR_MODEL], records[names.GNN_COMPACT_ANCHOR_MODEL]
    assert (full["bank_size"], full["bank"], compact["bank"]) == (100, "random", "kmeans")
    assert compact["flops_per_image"] < full["flops_per_image"]  # fewer anchors to compare
    for record in (full, compact):  # measured side by side, each with its accuracy
        assert 0.1 < record["test_accuracy"] <= 1 and "(inductive)" in record["protocol"]
        assert 0.1 < record["val_accuracy"] <= 1
    assert "k-means" in compact["protocol"]
    # every bank size of the plan measured; the reported one is the rule's choice among them
    stage = study[1].results["stages"]["efficiency"]["record"]
    banks = stage["compact_banks"]
    assert [b["bank_size"] for b in banks] == [20, 30]
    assert all(b["flops_per_image"] < full["flops_per_image"] for b in banks)
    assert banks[0]["flops_per_image"] < banks[1]["flops_per_image"]
    plan = study[0].plan
    expected, rule = protocol.choose_compact_bank(banks, full["val_accuracy"],
                                                  plan.fast_anchor_speedup,
                                                  plan.fast_anchor_tolerance)
    assert compact["bank_size"] == expected["bank_size"] and stage["compact_bank_rule"] == rule


def _bank(size, speedup, val):
    return {"bank_size": size, "speedup_vs_teacher": speedup, "val_accuracy": val}


def test_choose_compact_bank_rule():
    banks = [_bank(250, 40, 0.860), _bank(500, 30, 0.866), _bank(1000, 21, 0.869),
             _bank(2000, 12, 0.871)]
    # the smallest fast bank within 0.3 points of the full bank's 0.870 on validation
    chosen, rule = protocol.choose_compact_bank(banks, 0.870, 20, 0.3)
    assert chosen["bank_size"] == 1000 and "smallest" in rule
    chosen, _ = protocol.choose_compact_bank(banks, 0.870, 20, 0.5)
    assert chosen["bank_size"] == 500
    # none fast enough is that close: the most accurate of the fast ones, said so
    chosen, rule = protocol.choose_compact_bank(banks, 0.880, 20, 0.3)
    assert chosen["bank_size"] == 1000 and "no bank" in rule
    # the 2000-centre bank is close but too slow: never chosen while a fast one exists
    chosen, _ = protocol.choose_compact_bank(banks, 0.872, 20, 0.3)
    assert chosen["bank_size"] == 1000
    chosen, rule = protocol.choose_compact_bank(banks, 0.870, 50, 0.3)
    assert chosen["bank_size"] == 250 and "fastest" in rule
    with pytest.raises(ValueError, match="compact_bank_sizes is empty"):
        protocol.choose_compact_bank([], 0.87, 20, 0.3)


def test_designs_finals_and_evidence(study, chosen):
    lab, log = study
    designs = protocol.designs(lab, log, chosen)
    records = designs["records"]
    assert [r["design"] for r in records] == [d.name for d in GNN_DESIGNS + MLP_DESIGNS]
    for record in records:
        if record["student"] == "mlp":
            assert set(record["val"]) == {"batch"} and "val_batch_homophily" not in record
        else:
            assert len(record["val"]) == 9 and 0 <= record["val_batch_homophily"] <= 1
        assert set(record["val_protocols"]) == set(record["val"])
    learned = next(r for r in records if r["design"] == "learned-self-weight")
    assert 0 < learned["learned_self_weight"] < 1
    for key, kind in (("gnn", "gnn-learned"), ("mlp", "mlp")):
        final = designs["finals"][key]
        best = max((value, r["design"]) for r in records if r["student"] == kind
                   for value in r["val"].values())
        assert (final["design_val_accuracy"], final["design"]) == best  # chosen on validation
        assert len(final["per_seed"][0]["predictions"]) == 1000 and final["seeds"] == [0, 1]
    # GNN and MLP compared under the same protocols: alone, then the GNN's chosen mode
    gnn, mlp = designs["finals"]["gnn"], designs["finals"]["mlp"]
    comparison = designs["finals"]["comparison"]
    assert (comparison[0]["name"], comparison[0]["gnn"], comparison[0]["mlp"]) == (
        "alone", "anchor", "batch")
    assert comparison[-1]["gnn"] == gnn["mode"]
    if MODES[gnn["mode"]].kind == "vote":  # the MLP gets the same label vote
        assert comparison[-1]["mlp"] == gnn["mode"] == mlp["mode"]
        assert mlp["vote_head"]["s"] == chosen["s"]
    for row in comparison:
        pairs = [(g["test"][row["gnn"]], m["test"][row["mlp"]])
                 for g, m in zip(gnn["per_seed"], mlp["per_seed"])]
        assert row["difference"]["per_seed"] == pytest.approx([g - m for g, m in pairs])
        assert row["difference"]["verdict"] in ("GNN better", "MLP better", "no difference")
    evidence = designs["finals"]["evidence"]
    assert len(evidence["per_class_gnn"]) == 10 and evidence["test_images"] == 1000
    assert 0 <= evidence["test_batch_homophily"] <= 1
    assert "shuffled" in evidence["homophily_protocol"]
    assert set(gnn["protocols"]) == set(gnn["modes"])
    # every part is a recorded stage: a second pass trains and measures nothing
    finished = {name: stage["finished"] for name, stage in log.results["stages"].items()}
    assert "evidence" in finished
    assert protocol.designs(lab, log, chosen) == designs
    assert {n: s["finished"] for n, s in log.results["stages"].items()} == finished


def test_protocol_stage(study, chosen):
    lab, log = study
    design = design_named(protocol.designs(lab, log, chosen)["finals"]["gnn"]["design"])
    found = protocol_stage.protocol_stage(lab, log, chosen, design)
    grid = protocol_stage.protocol_grid(lab.plan)
    assert len(grid) == 6 * 2 and {rule.batch_size for rule in grid} == {32, 256}
    names_ = {"MLP + KD", "GNN paper design", "GNN paper design + KD"}
    if design.name != "paper":
        names_ |= {f"GNN {design.name}", f"GNN {design.name} + KD"}
    assert set(found["students"]) == names_ and found["test_images"] == 1000
    mlp = found["students"]["MLP + KD"]
    assert len({row["accuracy"] for row in mlp["rows"]}) == 1  # each image alone: no effect
    assert "anchor" not in mlp and all("homophily" not in row for row in mlp["rows"])
    for name, record in found["students"].items():
        assert [row["protocol"] for row in record["rows"]] == [rule.name for rule in grid]
        assert all("transductive" in row["description"] for row in record["rows"])
        if name == "MLP + KD":
            continue
        assert "inductive" in record["anchor"]["description"]
        by = {(row["protocol"], row["batch_size"]): row for row in record["rows"]}
        for size in (32, 256):  # sorted batches join images of one class far more often
            assert (by["class-sorted", size]["homophily"]
                    > by["shuffled", size]["homophily"] + 0.2)
        assert "homophily" not in by["shuffled+context 32", 32]
    finished = {n: s["finished"] for n, s in log.results["stages"].items()}
    assert protocol_stage.protocol_stage(lab, log, chosen, design) == found
    assert {n: s["finished"] for n, s in log.results["stages"].items()} == finished


def test_reproduce_resumes_an_interrupted_study(study, tmp_path, monkeypatch):
    """The whole command, with the checkpoints of the stage tests: interrupted in the main
    rows, then finished by a second run that reuses every stage the first one recorded."""
    lab, _ = study
    run = dict(results_dir=tmp_path, artifacts=lab.artifacts, device="cpu", progress=False,
               **TINY)
    real, calls = protocol._main_record, []

    def crash_on_third(lab, cfg):
        calls.append(cfg.name())
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(lab, cfg)

    monkeypatch.setattr(protocol, "_main_record", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        reproduce.reproduce("fashion-mnist", True, **run)
    path = tmp_path / "fashion-mnist" / "results.json"
    first = json.loads(path.read_text())["stages"]
    assert "student:mlp+kd:seed=0" in first and "student:gnn-knn:seed=0" not in first
    monkeypatch.setattr(protocol, "_main_record", real)
    # the second run also asks for the patient stage (here a stand-in that records its call):
    # the plan's patient settings change no earlier stage's key
    asked = []
    monkeypatch.setattr(patient_stage, "patient_stage",
                        lambda lab, log, chosen, gnn, mlp, mode: asked.append(
                            (gnn.name, mlp.name, mode)) or {})

    results = reproduce.reproduce("fashion-mnist", True, patient=True, **run)
    finals = results["designs"]["finals"]
    assert asked == [(finals["gnn"]["design"], finals["mlp"]["design"], finals["gnn"]["mode"])]
    assert results["patient"] == {}
    stored = json.loads(path.read_text())
    assert stored == json.loads(json.dumps(results, default=str))
    for name, stage in first.items():
        assert stored["stages"][name]["finished"] == stage["finished"], name
    assert stored["mode"] == "fast" and stored["commit"] and stored["machine"]["torch"]
    table = (path.parent / "results.md").read_text()
    assert set(stored["protocols"]["students"]) >= {"MLP + KD", "GNN paper design"}
    assert "| GNN, learned graph | yes |" in table and "Does the learned graph earn" in table
    assert "## Protocols: what a batch-mode number measures" in table
    assert "| class-sorted | " in table and "Anchor mode: " in table
    assert "Batch mode: shuffled test batches (seed 0) of 256 (transductive)" in table
    for plot in ("learning_curves.png", "sweep_s.png", "efficiency.png", "designs.png",
                 "per_class.png", "protocols.png"):
        assert (path.parent / plot).read_bytes()[:4] == b"\x89PNG"


def test_plans():
    fast, full = StudyPlan.for_budget(True), StudyPlan.for_budget(False)
    assert fast.fast and not full.fast and fast.student_epochs < full.student_epochs
    assert full.seeds == (0, 1, 2) and len(full.s_values) >= 3
    assert full.final_seeds == (0, 1, 2, 3, 4) and len(fast.final_seeds) < 5
    assert StudyPlan.for_budget(True, seeds=(4,)).seeds == (4,)
    # CIFAR-10 (JPEG copy) teachers answer flip-averaged in both modes; Fashion-MNIST's do not
    for fast_mode in (True, False):
        assert StudyPlan.for_budget(fast_mode, dataset="cifar10-jpeg").teacher_flip
        assert not StudyPlan.for_budget(fast_mode, dataset="fashion-mnist").teacher_flip
    assert not StudyPlan.for_budget(True, dataset="cifar10-jpeg", teacher_flip=False).teacher_flip


def test_a_flip_averaged_teacher_is_recorded_and_keyed_apart(study, tmp_path):
    lab, log = study
    plain = protocol.teacher(lab, log, "teacher")
    plan = StudyPlan.for_budget(True, **TINY, teacher_flip=True)
    flip_lab = Lab(plan, lab.artifacts, "cpu", progress=False)  # the same trained checkpoint
    flip_log = StageLog(tmp_path / "results.json", plan.to_dict(), progress=False)
    record = protocol.teacher(flip_lab, flip_log, "teacher")
    metrics = record["metrics"]
    assert record["checkpoint"] == plain["checkpoint"] and metrics["test_time_flip"]
    assert metrics["single_view_test_accuracy"] == plain["metrics"]["test_accuracy"]
    assert 0.1 < metrics["test_accuracy"] <= 1
    assert metrics["test_loss"] != plain["metrics"]["test_loss"]  # evaluated flip-averaged
    assert flip_log.results["stages"]["teacher:resnet20"]["key"] != \
        log.results["stages"]["teacher:resnet20"]["key"]
    student = flip_lab.student_config("mlp", True, 0, 1, 3, 2.0, 0.5)
    assert student.teacher == lab.distilling_teacher_config().name() + "-flip"
    assert lab.student_config("mlp", True, 0, 1, 3, 2.0, 0.5).teacher == \
        lab.distilling_teacher_config().name()
    assert names.teacher_label(record) == "resnet20, flip-averaged"
    assert names.teacher_label(plain) == "resnet20"


def test_protocol_verdict_names_where_a_graph_student_reaches_a_reference():
    def row(order, size, acc, context=0):
        name = order if not context else f"{order}+context {context}"
        found = {"protocol": name, "order": order, "batch_size": size, "context": context,
                 "accuracy": acc}
        return found if context else {**found, "homophily": 0.5}

    found = {"students": {
        "MLP": {"rows": [{"protocol": "shuffled", "order": "shuffled", "batch_size": 32,
                          "context": 0, "accuracy": 0.9}]},
        "GNN": {"rows": [row("shuffled", 32, 0.80), row("shuffled", 256, 0.86),
                         row("class-sorted", 32, 0.97), row("class-sorted", 256, 0.92),
                         row("shuffled", 32, 0.84, context=32)],
                "anchor": {"accuracy": 0.87}}}}
    lines = protocol_stage.protocol_verdict(found, {"MLP": 0.88, "teacher": 0.95})
    assert len(lines) == 2  # the MLP has no graph, so it gets no line
    assert lines[0].startswith("- GNN against MLP (88.00%): reaches it under class-sorted "
                               "(batch 32, 256; up to +9.00 points)")
    assert "never under shuffled, shuffled + as many training images" in lines[0]
    assert "Anchor mode (inductive): 87.00%, -1.00 points" in lines[0]
    assert "class-sorted (batch 32; up to +2.00 points);" in lines[1]
    # a margin one seed cannot separate is said to be one
    lines = protocol_stage.protocol_verdict(found, {"teacher": 0.968})
    assert "(batch 32; up to +0.20 points, within one seed's noise (under 0.5))" in lines[0]
    lines = protocol_stage.protocol_verdict(found, {"anything": 0.99})
    assert "below it under every batch protocol" in lines[0] and "never" not in lines[0]


def test_patient_stage(study, chosen):
    lab, log = study
    plan = lab.plan  # fast mode: 3 epochs over 2 views per image
    gnn, mlp = design_named("hidden-graph"), MLP_DESIGNS[0]
    found = patient_stage.patient_stage(lab, log, chosen, gnn, mlp, "anchor+labels:0.5")
    assert found["vote"] == "anchor+labels:0.5" and found["alpha"] == 1.0
    assert list(found["roles"]) == list(patient_stage.PATIENT_ROLES)
    for role, record in found["roles"].items():
        assert len(record["per_seed"]) == len(plan.final_seeds)
        for run in record["per_seed"]:
            assert len(run["curve"]) == plan.patient_epochs == 3
            assert run["validation"] == ("batch" if role == "MLP" else "anchor")
            assert set(run["test"]) == set(record["modes"])
            assert all(0.1 < value <= 1 for value in run["test"].values())
    trick = patient_stage.patient_config(lab, "GNN + label trick", gnn, chosen, 0)
    assert (trick.label_trick, trick.patient_views, trick.alpha) == (0.5, 2, 1.0)
    assert patient_stage.patient_config(lab, "GNN", gnn, chosen, 0).label_trick == 0
    consistent = patient_stage.patient_config(lab, "MLP", design_named("mlp-consistent-kd"),
                                              chosen, 0)
    assert consistent.augment_views == 0 and consistent.patient_views == 2
    rows = found["comparisons"]
    assert [row["name"] for row in rows] == ["alone", "label vote 0.5", "label trick"]
    gnn_values = [r["test"]["anchor"] for r in found["roles"]["GNN + label trick"]["per_seed"]]
    mlp_values = [r["test"]["anchor+labels:0.5"] for r in found["roles"]["MLP"]["per_seed"]]
    assert rows[2]["difference"]["per_seed"] == pytest.approx(
        [g - m for g, m in zip(gnn_values, mlp_values)])
    runs = [name for name in log.results["stages"] if name.startswith("patient:")]
    assert len(runs) == 3 + 3 * len(plan.final_seeds)  # the recipes, then the roles
    assert patient_stage.patient_stage(lab, log, chosen, gnn, mlp, "anchor+labels:0.5") == found
    assert patient_stage.label_vote("anchor") == "anchor+labels:0.25"
    assert patient_stage.label_vote("anchor+teacher-labels:0.5") == "anchor+labels:0.25"
    assert patient_stage.label_vote(None) == "anchor+labels:0.25"
    results = {"patient": found, "teachers": {"teacher": {"arch": "resnet20",
                                                          "metrics": {"test_accuracy": 0.9}}}}
    text = "\n".join(patient_stage.patient_tables(results))
    assert text.count("| GNN + label trick | hidden-graph |") == 2  # alone and with the vote
    assert "| label trick | the bank's true labels: the GNN's inputs" in text
    expected_gap = 100 * (found["roles"]["MLP"]["test"]["batch"]["mean"] - 0.9)
    assert f"| {expected_gap:+.2f} |" in text
    curves = patient_stage.patient_curves(results)
    assert list(curves) == [f"MLP, recipe {name} (validation, alone)"
                            for name in ("views + mixup", "views", "images")] + [
        "GNN (validation, anchor mode)", "GNN + label trick (validation, anchor mode)"]
    assert all(epochs == [1, 2, 3] for epochs, _ in curves.values())
    # the recipe: tried on the MLP of the first seed, the best on validation chosen and used
    trials = found["recipes"]
    assert [(t["views"], t["mixup"]) for t in trials.values()] == [(2, 1.0), (2, 0.0), (0, 0.0)]
    assert found["recipe"] == max(trials, key=lambda name: trials[name]["val_accuracy"])
    used = patient_stage.patient_config(lab, "GNN", gnn, chosen, 1, found["recipe"])
    assert (used.patient_views, used.mixup) == (trials[found["recipe"]]["views"],
                                                trials[found["recipe"]]["mixup"])
    assert found["roles"]["MLP"]["per_seed"][0]["val_accuracy"] == pytest.approx(
        trials[found["recipe"]]["val_accuracy"])  # the same run: the chosen recipe's seed 0
    assert "| images | 0 | 0 |" in text and "(chosen) |" in text
    assert patient_stage.patient_tables({}) == []


def _stats(mean):
    return {"mean": mean, "std": 0.001, "min": mean, "max": mean, "n": 5}


def test_patient_gap_compares_honest_students_before_and_after():
    results = {
        "teachers": {"teacher": {"arch": "resnet20", "metrics": {"test_accuracy": 0.94}}},
        "designs": {"finals": {
            # a GNN's batch mode is transductive: left out even though it is the best number
            "gnn": {"design": "hidden-graph", "test": {"batch": _stats(0.97),
                                                       "anchor": _stats(0.88)}},
            "mlp": {"design": "mlp", "test": {"batch": _stats(0.89),
                                              "anchor+labels:0.25": _stats(0.885)}}}},
        "patient": {"roles": {"MLP": {"test": {"batch": _stats(0.90)}},
                              "GNN": {"test": {"anchor": _stats(0.915),
                                               "anchor+labels:0.25": _stats(0.912)}}}}}
    gap = patient_stage.patient_gap(results)
    assert gap["before"]["student"] == "mlp (MLP)" and gap["before"]["mode"] == "each image alone"
    assert gap["gap_before"] == pytest.approx(0.05) and gap["target"] == pytest.approx(0.915)
    assert (gap["after"]["student"], gap["after"]["mode"]) == ("GNN", "anchor")
    assert gap["gap_after"] == pytest.approx(0.025)
    lines = patient_stage.gap_lines(results)
    assert "5.00 points below the teacher" in lines[1] and "2.50 points below" in lines[2]
    assert lines[3].endswith("which it reaches.")
    results["patient"]["roles"]["GNN"]["test"]["anchor"] = _stats(0.905)
    assert patient_stage.gap_lines(results)[3].endswith("which it does not reach.")
    assert lines[0] == "Teacher (resnet20): 94.00%."
    results["teachers"]["teacher"]["metrics"]["test_time_flip"] = True
    assert patient_stage.gap_lines(results)[0] == "Teacher (resnet20, flip-averaged): 94.00%."
    # each side names its budget when the record holds it
    results["designs"]["final_epochs"], results["patient"]["epochs"] = 30, 60
    before, after = patient_stage.gap_lines(results)[1:3]
    assert before.startswith("Before (the design study's chosen designs, 5 seeds, 30 epochs)")
    assert after.startswith("After (patient distillation, 5 seeds, 60 epochs)")
    assert patient_stage.patient_gap({"teachers": {}}) is None


def test_the_efficiency_key_names_teacher_flip_only_when_on():
    # a study recorded before teachers could answer flip-averaged keeps its efficiency stage
    class Recorder:
        def stage(self, name, settings, run):
            self.settings = settings
            return {}

    class FakeLab:
        def __init__(self, **overrides):
            self.plan = StudyPlan.for_budget(True, **overrides)

    log = Recorder()
    protocol.efficiency(FakeLab(), log, {"s": 5})
    assert "teacher_flip" not in log.settings[0] and "patient" not in log.settings[0]
    plain = log.settings
    protocol.efficiency(FakeLab(patient=True, patient_epochs=60), log, {"s": 5})
    assert log.settings == plain
    protocol.efficiency(FakeLab(teacher_flip=True), log, {"s": 5})
    assert log.settings[0]["teacher_flip"] is True


def test_budget_lines_average_the_curves_at_the_finals_budget_and_at_the_end():
    curve = [0.50, 0.60, 0.70, 0.74, 0.76, 0.80]
    results = {"designs": {"final_epochs": 3},
               "patient": {"recipes": {"images": {"curve": curve}}, "roles": {}}}
    (line,) = patient_stage.budget_lines(results, window=2)
    # epochs 2-3 average 65%, epochs 5-6 average 78%
    assert line == ("MLP, recipe images (validation, alone): 65.00% at epochs 2-3, 78.00% at "
                    "epochs 5-6 (+13.00 points)")
    # the finals' budget must leave room for the window and lie before the end
    results["designs"]["final_epochs"] = 6
    assert patient_stage.budget_lines(results, window=2) == []
    assert patient_stage.budget_lines({"patient": results["patient"]}) == []


def _comparison(name, mean, ci):
    return {"name": name, "student": "GNN", "difference": {"mean": mean, "ci": ci}}


@pytest.mark.parametrize("mean, ci, answer", [
    (0.015, [0.002, 0.028], "Yes"),
    (0.015, [-0.002, 0.032], "No"),    # a point and a half, but the interval holds zero
    (0.006, [0.001, 0.011], "No"),     # above zero, but short of a point
])
def test_graph_verdict_needs_a_point_and_an_interval_above_zero(mean, ci, answer):
    results = {"patient": {"comparisons": [_comparison("label trick", -0.02, [-0.03, -0.01]),
                                           _comparison("alone", mean, ci)]}}
    verdict = patient_stage.graph_verdict(results)
    assert verdict.startswith("Does the graph earn at least 1 point")
    assert f"? {answer}: its best comparison, \"alone\" (GNN)" in verdict
    assert f"is {100 * mean:+.2f} points" in verdict
    assert patient_stage.graph_verdict({"patient": {"comparisons": []}}) is None
