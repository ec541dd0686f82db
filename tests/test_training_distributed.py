"""Training with several processes: the helpers alone, then real two-process runs over Gloo on
the CPU (each test starts its processes the way torchrun does: RANK, WORLD_SIZE, MASTER_*)."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from cnn2gnn_lib import data
from cnn2gnn_lib.training import distributed

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(rank: int, world: int, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1",
               CNN2GNN_FAST="1", PYTHONPATH=str(ROOT), **extra)
    return env


def _plain_env() -> dict[str, str]:
    """The environment without any process-group variables (torchrun sets its own)."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(OMP_NUM_THREADS="1", CNN2GNN_FAST="1", PYTHONPATH=str(ROOT))
    return env


def _start(args: list[str], world: int = 2, **extra: str) -> list[subprocess.Popen]:
    port = _free_port()
    return [subprocess.Popen([sys.executable, *args], env=_env(rank, world, port, **extra),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for rank in range(world)]


def _finish(processes: list[subprocess.Popen], timeout: float = 240) -> list[tuple[int, str]]:
    results = []
    for process in processes:
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise AssertionError("a process of the run hung instead of stopping")
        results.append((process.returncode, out))
    return results


def _run_code(code: str, tmp_path: Path, world: int = 2) -> list[tuple[int, str]]:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(code))
    return _finish(_start([str(script), str(tmp_path)], world))


# -- the helpers, in one process --------------------------------------------------------------


def test_context_reads_torchrun_environment():
    assert distributed.context({}) is None
    assert distributed.context({"WORLD_SIZE": "1", "RANK": "0"}) is None  # alone: plain run
    ctx = distributed.context({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.is_main) == (2, 4, 0, False)
    with pytest.raises(ValueError, match="RANK=5 is not within WORLD_SIZE=2"):
        distributed.context({"WORLD_SIZE": "2", "RANK": "5"})
    with pytest.raises(ValueError, match="torchrun"):
        distributed.context({"WORLD_SIZE": "2"})


def test_the_global_batch_must_split_evenly():
    ctx = distributed.Context(0, 3)
    with pytest.raises(ValueError, match="128 does not split into 3 .* multiple of 3"):
        distributed.local_batch_size(128, ctx)
    assert distributed.local_batch_size(129, ctx) == 43


def test_process_shares_are_disjoint_repeatable_and_new_each_epoch(fmnist_test):
    dataset = data.balanced_subset(fmnist_test, 21)  # 210 images
    info = dataset.info
    position = {row.numpy().tobytes(): i for i, row in enumerate(dataset.images)}
    assert len(position) == len(dataset)  # every image tells itself apart

    def share(rank: int, epoch: int, augment: bool = False) -> list[int]:
        ctx = distributed.Context(rank, 2)
        seen = []
        for images, targets in distributed.train_batches(dataset, 20, epoch, 0, ctx, augment):
            assert images.shape == (10, info.in_channels, *dataset.images.shape[2:])
            seen += [position[img.mul(255).round().to(torch.uint8).numpy().tobytes()]
                     for img in images]
        return seen

    first, second = share(0, 0), share(1, 0)
    assert len(first) == len(second) == 100  # 105 each, cut to whole batches of 10
    assert not set(first) & set(second)
    assert share(0, 0) == first and share(0, 1) != first
    assert distributed.steps_per_epoch(dataset, 20, distributed.Context(0, 2)) == 10


# -- two processes over Gloo ------------------------------------------------------------------


def test_ddp_gradients_equal_one_process_on_the_whole_batch(tmp_path):
    results = _run_code("""
        import sys, torch, torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel
        from cnn2gnn_lib import teachers
        from cnn2gnn_lib.training import distributed
        ctx = distributed.context(); distributed.start(ctx, "cpu")
        torch.manual_seed(0)
        model = teachers.build_teacher("resnet20", 1, 10).eval()  # batch norm: running stats
        x, y = torch.rand(8, 1, 28, 28), torch.arange(8) % 10
        mine = slice(4 * ctx.rank, 4 * ctx.rank + 4)
        ddp = DistributedDataParallel(model)
        torch.nn.functional.cross_entropy(ddp(x[mine]), y[mine]).backward()
        grads = [p.grad.clone() for p in model.parameters()]
        if ctx.is_main:
            alone = teachers.build_teacher("resnet20", 1, 10).eval()
            alone.load_state_dict(model.state_dict())
            torch.nn.functional.cross_entropy(alone(x), y).backward()
            worst = max((g - p.grad).abs().max().item() / (p.grad.abs().max().item() + 1e-12)
                        for g, p in zip(grads, alone.parameters()))
            print("WORST", worst)
        distributed.stop()
    """, tmp_path)
    assert all(code == 0 for code, _ in results), results
    worst = float(results[0][1].split("WORST")[1].split()[0])
    assert worst < 1e-4


def test_sharded_prediction_counts_every_image_once(tmp_path):
    results = _run_code("""
        import sys, torch
        from cnn2gnn_lib import data, teachers
        from cnn2gnn_lib.training import distributed, teacher
        ctx = distributed.context(); distributed.start(ctx, "cpu")
        torch.manual_seed(0)
        model = teachers.build_teacher("resnet20", 1, 10)
        test = data.load_dataset("fashion-mnist", "test").select(torch.arange(7))  # 7 = 2*4 - 1
        sharded = distributed.predict_sharded(model, test, ctx)
        whole = teacher.predict(model, test)
        print("SHAPE", tuple(sharded.shape), "MAXDIFF", (sharded - whole).abs().max().item())
        distributed.stop()
    """, tmp_path)
    for code, out in results:
        assert code == 0, out
        assert "SHAPE (7, 10)" in out
        assert float(out.split("MAXDIFF")[1].split()[0]) < 1e-4


def _start_and_lose_rank_1(out: Path, command: list[str], how: signal.Signals,
                           timeout_s: int) -> tuple[int, str, float]:
    """Start two processes, let rank 0 finish epoch 1, then kill (or freeze) rank 1; returns
    rank 0's exit code, output, and how long it took to stop after losing rank 1."""
    processes = _start(command, CNN2GNN_DIST_TIMEOUT=str(timeout_s))
    began = time.monotonic()
    while not list((out / "teachers").glob("*.partial.pt")):  # rank 0 finished epoch 1
        assert time.monotonic() - began < 180, [p.poll() for p in processes]
        assert all(p.poll() is None for p in processes), _finish(processes)
        time.sleep(0.2)
    processes[1].send_signal(how)
    began = time.monotonic()
    try:
        text, _ = processes[0].communicate(timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("rank 0 hung after losing rank 1")
    finally:
        processes[1].kill()
        processes[1].communicate()
    return processes[0].returncode, text, time.monotonic() - began


def test_a_frozen_process_stops_the_others_after_the_timeout(tmp_path):
    out = tmp_path / "artifacts"
    command = ["-m", "cnn2gnn_lib", "train-teacher", "--dataset", "fashion-mnist", "--epochs",
               "3", "--out", str(out), "--no-progress"]
    code, text, seconds = _start_and_lose_rank_1(out, command, signal.SIGSTOP, timeout_s=10)
    assert code != 0 and "another process of this run stopped answering" in text, text
    assert 10 <= seconds < 60


def test_a_lost_process_stops_the_run_and_the_run_resumes(tmp_path):
    out = tmp_path / "artifacts"
    command = ["-m", "cnn2gnn_lib", "train-teacher", "--dataset", "fashion-mnist", "--epochs",
               "3", "--out", str(out), "--no-progress"]
    partial = out / "teachers"
    code, text, seconds = _start_and_lose_rank_1(out, command, signal.SIGKILL, timeout_s=60)
    assert code != 0, text
    assert "another process of this run stopped answering" in text
    assert seconds < 100

    # the same command again (with progress, which announces the resumption), through torchrun
    resumed = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                              "--master_port", str(_free_port()), *command[:-1]],
                             env=_plain_env(),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming fashion-mnist-resnet20" in resumed.stdout
    assert "after 3 epochs" in resumed.stdout
    assert resumed.stdout.count("test accuracy") == 1  # rank 0 alone reports
    assert not list(partial.glob("*.partial.pt")) and len(list(partial.glob("*.pt"))) == 1


# -- the GNN student with one graph across processes ------------------------------------------

DESIGNS = [dict(), dict(graph="knn"), dict(graph_space="hidden"), dict(graph_space="projection"),
           dict(graph_layers="first"), dict(self_weight="learned"), dict(self_weight=0.3)]


@pytest.mark.parametrize("options", DESIGNS,
                         ids=lambda o: ",".join(map(str, o.values())) or "paper")
def test_the_global_pass_in_one_process_is_the_students_forward(options):
    from cnn2gnn_lib.students import GNNStudent
    from cnn2gnn_lib.students.global_graph import batch_pass

    torch.manual_seed(0)
    model = GNNStudent(20, 16, 4, s=3, backend="torch", **options).eval()
    x = torch.randn(12, 20)
    assert torch.allclose(batch_pass(model, x), model(x), atol=1e-5)
    with pytest.raises(ValueError, match=r"expected node features \[b, 20\]"):
        batch_pass(model, x[:, :5])


def test_a_global_graph_gives_the_whole_batch_loss_and_gradients(tmp_path):
    results = _run_code("""
        import torch, torch.distributed as dist
        import torch.nn.functional as F
        from cnn2gnn_lib.students import GNNStudent
        from cnn2gnn_lib.training import distributed
        from cnn2gnn_lib.training.distributed_student import average_gradients, process_logits
        ctx = distributed.context(); distributed.start(ctx, "cpu")
        torch.manual_seed(0)
        x, y = torch.randn(16, 20), torch.arange(16) % 4
        mine = slice(8 * ctx.rank, 8 * ctx.rank + 8)
        for options in (dict(), dict(graph_space="hidden"), dict(self_weight="learned")):
            torch.manual_seed(1)
            model = GNNStudent(20, 16, 4, s=3, dropout=0.0, backend="torch", **options)
            alone = GNNStudent(20, 16, 4, s=3, dropout=0.0, backend="torch", **options)
            alone.load_state_dict(model.state_dict())
            F.cross_entropy(alone(x), y).backward()
            reference = torch.cat([p.grad.flatten() for p in alone.parameters()])
            for global_graph in (True, False):
                model.zero_grad()
                loss = F.cross_entropy(process_logits(model, x[mine], ctx, global_graph), y[mine])
                loss.backward()
                average_gradients(model, ctx)
                mean_loss = loss.detach().clone(); dist.all_reduce(mean_loss); mean_loss /= 2
                grads = torch.cat([p.grad.flatten() for p in model.parameters()])
                print("CASE", options, global_graph,
                      "LOSSDIFF", abs(mean_loss.item() - F.cross_entropy(alone(x), y).item()),
                      "GRADDIFF", ((grads - reference).norm() / reference.norm()).item())
        distributed.stop()
    """, tmp_path)
    for code, out in results:
        assert code == 0, out
    cases = [line.split() for line in results[0][1].splitlines() if line.startswith("CASE")]
    assert len(cases) == 6
    for case in cases:
        global_graph = case[case.index("LOSSDIFF") - 1] == "True"
        loss_diff = float(case[case.index("LOSSDIFF") + 1])
        grad_diff = float(case[case.index("GRADDIFF") + 1])
        if global_graph:
            assert loss_diff < 1e-5 and grad_diff < 1e-5, case
        else:  # each process's graph of 8 images is another model
            assert loss_diff > 1e-4 and grad_diff > 1e-3, case


def test_students_train_with_two_processes_and_stay_identical(tmp_path):
    results = _run_code("""
        import torch
        from cnn2gnn_lib.training import StudentConfig, StudentData, distributed
        from cnn2gnn_lib.training.distributed_student import fit_student_distributed
        ctx = distributed.context(); distributed.start(ctx, "cpu")
        cfg = StudentConfig.for_budget(True, kind="gnn-learned", epochs=2, batch_size=64,
                                       train_per_class=60, val_per_class=20)
        data = StudentData.from_config(cfg)
        torch.manual_seed(ctx.rank)  # different starts: the trainer must align them
        student = cfg.build(data.in_features, data.num_classes)
        state = fit_student_distributed(student, data, cfg, cfg.loss_terms(), ctx,
                                        progress=False)
        checksum = sum(p.double().sum().item() for p in student.parameters())
        print("EPOCHS", len(state["history"]), "VAL", state["best_val_accuracy"],
              "CHECKSUM", repr(checksum))
        distributed.stop()
    """, tmp_path)
    for code, out in results:
        assert code == 0, out
    fields = [next(line for line in out.splitlines() if line.startswith("EPOCHS")).split()
              for _, out in results]
    assert fields[0][fields[0].index("CHECKSUM") + 1] == fields[1][fields[1].index("CHECKSUM") + 1]
    assert fields[0][1] == "2"
    assert float(fields[0][3]) > 0.3  # well above the 0.1 of guessing among 10 classes
