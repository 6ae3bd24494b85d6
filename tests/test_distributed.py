"""Data parallelism under torchrun (gloo on the CPU): few-shot DDP training and sharded inference."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minerals import distributed

TORCHRUN = Path(sys.executable).with_name("torchrun")
TRAIN = ["fewshot", "train", "--subset", "10"]  # the smoke profile's first configuration (96 px, 4 epochs)

needs_torchrun = pytest.mark.skipif(not TORCHRUN.exists() and not shutil.which("torchrun"), reason="no torchrun")


def minerals(args: list[str], ranks: int = 1, timeout: int = 240) -> subprocess.CompletedProcess:
    """`python -m minerals ARGS`, or under `torchrun --standalone --nproc_per_node RANKS` (CPU, gloo)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    launcher = [str(TORCHRUN if TORCHRUN.exists() else shutil.which("torchrun")), "--standalone",
                f"--nproc_per_node={ranks}", "-m"] if ranks > 1 else [sys.executable, "-m"]
    return subprocess.run([*launcher, "minerals", *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_without_torchrun_every_helper_is_the_identity():
    assert (distributed.rank(), distributed.world(), distributed.is_main()) == (0, 1, True)
    assert distributed.sum_all([1.0, 2.0]) == [1.0, 2.0] and distributed.gather(3) == [3]
    assert distributed.broadcast({"a": 1}) == {"a": 1} and list(distributed.mine(3)) == [0, 1, 2]
    with distributed.process_group("cpu") as device:
        assert device == "cpu" and not distributed.active()


def test_unshard_restores_the_order():
    parts = [list(range(10))[r::3] for r in range(3)]
    assert distributed.unshard(parts, 10) == list(range(10))


@needs_torchrun
@pytest.mark.slow
def test_two_rank_ddp_training_matches_one_process_within_sampling_noise(tiny_release_root, tmp_path):
    from minerals.fewshot import section as fewshot
    from minerals.pipeline.session import open_session

    common = [*TRAIN, "--data-root", str(tiny_release_root)]
    one = minerals([*common, "--results", str(tmp_path / "one")])
    assert one.returncode == 0, one.stderr[-2000:]
    two = minerals([*common, "--results", str(tmp_path / "two")], ranks=2)
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("best epoch") == 1  # only rank 0 reports
    log = next((tmp_path / "two").rglob("train.jsonl")).read_text().splitlines()
    assert len(log) == 4  # rank 0 alone wrote the epoch log
    again = minerals([*common, "--results", str(tmp_path / "two")], ranks=2)  # a finished run is reused
    assert again.returncode == 0 and "best epoch" in again.stdout
    assert len(next((tmp_path / "two").rglob("train.jsonl")).read_text().splitlines()) == 4
    top1 = []
    for name in ("one", "two"):
        s = open_session("test", "smoke", str(tiny_release_root), "cpu", 0, tmp_path / name)
        cfg = fewshot.FewShotConfig.from_section(s.profile.section("fewshot"), subset=10, seed=0)
        result = fewshot.eval_run(s, cfg, echo=False)
        top1.append(result["top1"])
        n = result["n_test"]
    p = sum(top1) / 2
    se = math.sqrt(max(p * (1 - p), 1 / n) / n)  # binomial SE of one run (at least one photo's worth)
    assert abs(top1[0] - top1[1]) <= se, (top1, se)


@needs_torchrun
def test_more_ranks_than_photos_is_a_one_line_error(tmp_path):
    from data_fixture import make_release

    root = make_release(tmp_path / "release", classes=2, per_class=5, subsets=(2,))
    out = minerals(["fewshot", "train", "--data-root", str(root), "--results", str(tmp_path / "r"), "--subset", "2",
                    "--resolution", "32", "--epochs", "1", "--no-pretrained"], ranks=8, timeout=180)
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("minerals fewshot: error:")]
    assert len(errors) == 1 and "torchrun started 8 ranks" in errors[0] and "--nproc_per_node" in errors[0]
