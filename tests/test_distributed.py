"""Data parallelism under torchrun (gloo on the CPU): few-shot DDP training and sharded inference."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minerals.models import distributed

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


def _inference(paths: list[str], out: str):
    """Zero-shot features and Grad-CAMs of `paths` in this process (sharded when a group is active)."""
    import numpy as np
    import torch

    from minerals.cam.methods import compute_cams
    from minerals.data.images import load_image
    from minerals.models.classifiers import create_classifier
    from minerals.models.clip import load_clip
    from minerals.zeroshot.section import image_features

    torch.set_num_threads(1)
    features = image_features(load_clip("minerals-tiny"), paths, batch_size=2, max_side=96, progress=False).numpy()
    torch.manual_seed(0)
    net = create_classifier("tf_efficientnet_lite0", 3, pretrained=False).eval()
    images = [np.asarray(load_image(p, 96)) for p in paths]
    cams = compute_cams(net, images, "gradcam", resolution=64, targets=[i % 3 for i in range(len(paths))],
                        batch_size=2, progress=False)
    if distributed.is_main():
        np.savez(out, features=features, cams=cams)


def _rank(rank: int, world: int, rendezvous: str, paths: list[str], out: str):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        _inference(paths, out)
    finally:
        dist.destroy_process_group()


def test_sharded_inference_on_two_ranks_matches_one_process(tiny_release, tmp_path):
    import numpy as np
    import torch.multiprocessing as mp

    paths = [str(p) for p in tiny_release.full["path"][:5]]  # odd: the ranks get 3 and 2 photos
    _inference(paths, str(tmp_path / "one.npz"))
    mp.spawn(_rank, args=(2, str(tmp_path / "rendezvous"), paths, str(tmp_path / "two.npz")), nprocs=2, join=True)
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert one["features"].shape == two["features"].shape == (5, one["features"].shape[1])
    assert one["cams"].shape == two["cams"].shape and one["cams"].shape[0] == 5
    np.testing.assert_allclose(one["features"], two["features"], atol=1e-5)
    np.testing.assert_allclose(one["cams"], two["cams"], atol=1e-4)
