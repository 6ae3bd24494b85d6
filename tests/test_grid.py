"""A grid many workers share: claims (O_EXCL, heartbeat, expiry, takeover), shards, `minerals fewshot grid`."""

from __future__ import annotations

import errno
import multiprocessing
import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from data_fixture import make_release

from minerals import results
from minerals.cli import main
from minerals.fewshot import section as fewshot
from minerals.pipeline.session import Session
from minerals.profiles import Profile
from minerals.results import RunStore, Shard, run_cells

CELLS = list(range(12))


def counting_grid(folder: Path, log: Path, shard: Shard | None = None, timeout_s: float = 5.0,
                  work_s: float = 0.02) -> list[tuple[int, str]]:
    """One worker over CELLS: each computation appends a line to `log/<cell>` (works across processes)."""
    store = RunStore(folder, claim_timeout_s=timeout_s)

    def compute(cell):
        def fn():
            time.sleep(work_s)
            with open(log / str(cell), "a") as fp:
                fp.write(f"{os.getpid()}\n")
            return {"cell": cell}
        return store.run({"cell": cell}, fn)

    return [(i, how) for i, _, how in run_cells(store, CELLS, lambda c: {"cell": c}, compute, shard)]


def _process_worker(folder: str, log: str) -> None:
    counting_grid(Path(folder), Path(log))


def computations(log: Path) -> Counter:
    return Counter({int(p.name): len(p.read_text().splitlines()) for p in log.iterdir()})


def threads(targets) -> None:
    workers = [threading.Thread(target=t) for t in targets]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not any(w.is_alive() for w in workers), "a worker hung"


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "log"
    path.mkdir()
    return path


def test_two_concurrent_shards_run_every_cell_once(tmp_path, log):
    seen = {}
    threads([lambda i=i: seen.__setitem__(i, counting_grid(tmp_path / "runs", log, Shard(i, 2))) for i in (0, 1)])
    assert computations(log) == Counter({c: 1 for c in CELLS})
    assert sorted(i for i, _ in seen[0]) == CELLS[0::2] and sorted(i for i, _ in seen[1]) == CELLS[1::2]
    assert not list((tmp_path / "runs").glob("*.claim*"))  # every claim released
    again = counting_grid(tmp_path / "runs", log)  # a rerun reuses everything
    assert {how for _, how in again} == {"reused"} and computations(log) == Counter({c: 1 for c in CELLS})


def test_three_unsharded_worker_processes_run_every_cell_once(tmp_path, log):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_worker, args=(str(tmp_path / "runs"), str(log))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert computations(log) == Counter({c: 1 for c in CELLS})
    assert not list((tmp_path / "runs").glob("*.claim*"))


def test_three_unsharded_threads_each_see_the_whole_grid(tmp_path, log):
    seen = []
    threads([lambda: seen.append(counting_grid(tmp_path / "runs", log)) for _ in range(3)])
    assert computations(log) == Counter({c: 1 for c in CELLS})
    assert all(sorted(i for i, _ in worker) == CELLS for worker in seen)
    assert sum(how == "ran" for worker in seen for _, how in worker) == len(CELLS)


def dead_claim(store: RunStore, key: dict, age_s: float) -> Path:
    """The claim file a killed worker leaves: its last heartbeat `age_s` ago."""
    path = store.claim_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"host": "gone", "pid": 1, "token": "dead"}')
    os.utime(path, (time.time() - age_s,) * 2)
    return path


def test_a_stale_claim_is_taken_over_by_exactly_one_worker(tmp_path):
    store = RunStore(tmp_path, claim_timeout_s=1.0)
    claim = dead_claim(store, {"cell": 0}, age_s=60)
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.1)
        return {"ok": True}

    threads([lambda: store.run({"cell": 0}, fn) for _ in range(4)])
    assert calls == [1] and store.get({"cell": 0})["metrics"] == {"ok": True} and not claim.exists()


def test_a_killed_workers_cell_is_picked_up_when_its_claim_expires(tmp_path, log):
    store = RunStore(tmp_path / "runs", claim_timeout_s=0.5)
    dead_claim(store, {"cell": 3}, age_s=0)  # fresh: it must first be deferred, then expire
    start = time.perf_counter()
    out = counting_grid(tmp_path / "runs", log, timeout_s=0.5)
    assert computations(log) == Counter({c: 1 for c in CELLS})
    assert [i for i, _ in out][-1] == 3 and time.perf_counter() - start >= 0.5  # deferred, then taken over


def test_the_heartbeat_keeps_a_long_run_claimed(tmp_path):
    store = RunStore(tmp_path, claim_timeout_s=0.3)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(1.2)  # four timeouts: only the heartbeat keeps the claim alive
        return {}

    threads([lambda: store.run({"k": 1}, slow), lambda: (time.sleep(0.2), store.run({"k": 1}, slow))])
    assert calls == [1]


def test_a_failed_run_releases_its_claim(tmp_path):
    store = RunStore(tmp_path, claim_timeout_s=5)
    with pytest.raises(ZeroDivisionError):
        store.run({"k": 1}, lambda: 1 / 0)
    assert not store.claim_path({"k": 1}).exists() and store.run({"k": 1}, lambda: {"v": 2}) == {"v": 2}


def test_a_held_claim_is_reentrant_in_its_thread(tmp_path):
    store = RunStore(tmp_path, claim_timeout_s=5)
    with store.claim({"k": 1}) as claim:
        assert store.run({"k": 1}, lambda: {"v": 1}) == {"v": 1}  # no self-deadlock
        assert claim.path.exists()
        other = []
        threads([lambda: other.append(store.claim({"k": 2}))])
        assert other[0] is not None and other[0].path.name != claim.path.name
        other[0].release()
    assert not claim.path.exists()


@pytest.mark.parametrize("text, message", [
    ("3/2", "I must be in 0..1"), ("2/2", "I must be in 0..1"), ("0/0", "N must be at least 1"),
    ("-1/2", "expected I/N"), ("1", "expected I/N"), ("a/b", "expected I/N")])
def test_bad_shards_are_one_line_errors(text, message, capsys):
    with pytest.raises(ValueError, match=message):
        Shard.parse(text)
    assert main(["fewshot", "grid", f"--shard={text}"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_shards_partition_the_grid():
    assert Shard.parse("0/2").select(CELLS) == CELLS[0::2] and Shard.parse("1/3").select(CELLS) == CELLS[1::3]
    assert sorted(sum((Shard(i, 5).select(CELLS) for i in range(5)), [])) == CELLS


def test_a_read_only_results_folder_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    def refuse(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(results.tempfile, "TemporaryFile", refuse)
    root = make_release(tmp_path / "release", classes=4, per_class=10, subsets=(4,))
    assert main(["fewshot", "grid", "--data-root", str(root), "--results", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not writable (Read-only file system)" in err and str(tmp_path / "ro") in err and "\n" not in err
    monkeypatch.undo()
    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(results.ResultsError, match="not writable"):
        RunStore(tmp_path / "runs").run({"k": 1}, lambda: {})


# --- the few-shot grid, with training and evaluation replaced by counters ----------------------------

GRID = {"subset": 4, "model": "tf_efficientnet_lite0", "pretrained": False, "resolution": 32, "epochs": 1,
        "grid": [{}, {"resolution": 48}, {"pretrained": True}, {"lr": 1e-2}, {"epochs": 2}]}


def test_fewshot_grid_shards_train_each_configuration_once(tmp_path, monkeypatch):
    root = make_release(tmp_path / "release", classes=4, per_class=10, subsets=(4,))
    trained, lock = Counter(), threading.Lock()

    def fake_train(cfg, train_set, val_set, classes, run_dir, device, echo=True, data=None):
        with lock:
            trained[cfg] += 1
        time.sleep(0.05)
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        (Path(run_dir) / "best.pt").write_bytes(b"")
        return {"checkpoint": str(Path(run_dir) / "best.pt"), "best_epoch": 1, "best_val_top1": 0.5, "history": [],
                "n_train": len(train_set), "n_val": len(val_set), "resolution": cfg.resolution,
                "train_images_per_s": 1.0}

    def fake_evaluate(model, info, dataset, out_dir, device, **kw):
        return {"top1": 0.25, "notes": [], "eval_s": 0.0, "predictions": str(out_dir / "p.csv"),
                "confusion": str(out_dir / "c.csv")}

    monkeypatch.setattr(fewshot, "train", fake_train)
    monkeypatch.setattr(fewshot, "load_checkpoint", lambda path, device: (None, {}))
    monkeypatch.setattr(fewshot, "evaluate", fake_evaluate)
    monkeypatch.setattr(fewshot, "export_predictions", lambda *a, **k: None)  # no real predictions to export
    profile = Profile("smoke", {"fewshot": GRID})

    def worker(shard):
        s = Session(notebook="test", profile=profile, data_root=root, device="cpu", seed=0, results_dir=tmp_path / "r")
        return list(fewshot.run_grid(s, shard=shard))

    out = {}
    threads([lambda i=i: out.__setitem__(i, worker(Shard(i, 2))) for i in (0, 1)])
    configs = fewshot.plan(GRID)
    assert len(configs) == 5 and trained == Counter({cfg: 1 for cfg in configs})
    assert [c for c, _, _ in out[0]] == configs[0::2] and [c for c, _, _ in out[1]] == configs[1::2]
    threads([lambda i=i: out.__setitem__(i, worker(None)) for i in range(3)])  # three unsharded reruns
    assert trained == Counter({cfg: 1 for cfg in configs})
    assert all(len(out[i]) == 5 and {how for _, _, how in out[i]} == {"reused"} for i in range(3))
