"""Round trip: what each section exports, `minerals.benchmark.evaluate` scores to the section's own numbers."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from minerals import metrics
from minerals.benchmark import evaluate, export, splits
from minerals.results import RunStore


def test_fewshot_predictions_reproduce_the_fewshot_metrics(tiny_release, tmp_path):
    from minerals.fewshot.evaluate import write_predictions

    frame = tiny_release.subset(10)
    frame = frame[frame["split"] == "test"].reset_index(drop=True)
    classes = tiny_release.classes(10)
    labels = frame["label"].to_numpy()
    scores = np.random.default_rng(0).normal(size=(len(frame), len(classes)))
    write_predictions(tmp_path / "predictions.csv", types.SimpleNamespace(frame=frame), scores, labels, classes)
    path = export.fewshot_ranked(tmp_path / "predictions.csv", tmp_path / "sub.csv")
    got = evaluate("classification", path, tiny_release, subset=10, n_boot=200, seed=0)["metrics"]
    want = metrics.topk_accuracy(scores, labels)
    preds = scores.argmax(axis=1)
    low, high = metrics.bootstrap_ci(metrics.topk_hits(scores, labels, 1).astype(float), n_boot=200, seed=0)
    assert {k: got[k] for k in want} == want
    assert got["balanced_acc"] == metrics.balanced_accuracy(labels, preds)
    assert (got["top1_ci_low"], got["top1_ci_high"]) == (low, high)


def test_zeroshot_exports_reproduce_the_zeroshot_table(tiny_release, tmp_path):
    from minerals.zeroshot import section as zeroshot

    cfg = zeroshot.ZeroShotConfig.from_section({"subsets": [10, "full"], "ensembles": ["bare"], "ablation": "",
                                                "probe_subsets": [], "examples": 1})
    tables = zeroshot.run_grid(tiny_release, cfg, RunStore(tmp_path / "runs"), tmp_path / "art",
                               predictions=tmp_path / "pred")
    for row in tables["zeroshot"].itertuples():
        path = tmp_path / "pred" / f"{row.subset}-{row.model}-{row.pretrained}-{row.templates}.csv"
        got = evaluate("zeroshot", path, tiny_release, subset=row.subset, n_boot=20)["metrics"]
        for k in ("top1", "top3", "top5", "top10", "balanced_acc", "n_classes"):
            assert got[k] == getattr(row, k), (row.subset, k)
        assert got["n"] == row.n_images


def test_size_exports_reproduce_the_size_table(tiny_release, tmp_path):
    from minerals.size.evaluate import run_methods
    from minerals.size.result import SizeConfig
    from minerals.size.section import data_key, export_predictions

    cfg = SizeConfig(methods=("baseline", "improved"), n_boot=50)
    table, preds = run_methods(tiny_release.size_table(), cfg, RunStore(tmp_path / "runs"), tmp_path / "art",
                               data_key(tiny_release), progress=False)
    files = export_predictions(tiny_release, preds, tmp_path / "pred")
    for row, path in zip(table.to_dict("records"), files):
        got = evaluate("size", path, tiny_release, n_boot=50)["metrics"]
        assert {k: got[k] for k in row if k not in ("method",)} == pytest.approx(
            {k: v for k, v in row.items() if k != "method"}, rel=0, abs=0, nan_ok=True)


def test_segmentation_masks_reproduce_the_segmentation_table(tiny_release, tmp_path):
    from minerals.cam import section as cam

    pairs = splits.segmentation_pairs(tiny_release, 4)
    samples = cam.load_samples(pairs, 96)
    cams = np.random.default_rng(0).random((len(samples), 7, 7)).astype(np.float16)
    np.savez_compressed(tmp_path / "cams.npz", cams=cams)
    scores = cam.score_cams(cam.load_cams(tmp_path / "cams.npz"), samples, ["otsu", "pct70"])
    per_image = scores.assign(backbone="random", method="gradcam", cam_s_per_image=0.0, forwards_per_image=1.0)
    result = cam.SegmentationResult(cam.summarise(per_image, n_boot=50), per_image, samples,
                                    {("random", "gradcam"): tmp_path / "cams.npz"})
    (folder,) = cam.segmentation_masks(result, tmp_path / "pred")
    best = result.best()
    got = evaluate("segmentation", folder, tiny_release, max_images=4, max_side=96, n_boot=50)["metrics"]
    for k in ("miou", "mdice", "mpixel_acc", "miou_low", "miou_high", "n_images"):
        assert got["n" if k == "n_images" else k] == best[k], k


def test_size_export_leaves_abstentions_empty(tiny_release, tmp_path):
    ids = splits.size_frame(tiny_release)["id"].tolist()
    sizes = np.linspace(1.0, 9.0, len(ids))
    sizes[0] = np.nan
    path = export.write_sizes(tmp_path / "s.csv", ids, sizes)
    assert pd.read_csv(path, keep_default_na=False)["size_cm"].iloc[0] == ""
    assert evaluate("size", path, tiny_release, n_boot=10)["metrics"]["coverage"] == (len(ids) - 1) / len(ids)
