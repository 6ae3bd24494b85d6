"""Profiles, results (atomic writes, run records), session resolution and metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from minerals import metrics, results
from minerals.profiles import ProfileError, available_profiles, load_profile
from minerals.pipeline.session import SessionError, notebook_registry, resolve_data_root


def test_profiles_ship_smoke_and_paper():
    assert {"smoke", "paper"} <= set(available_profiles())
    smoke = load_profile("smoke")
    assert smoke.section("data")["source"] == "synthetic"
    assert load_profile("paper").section("data")["source"] == "real"


def test_unknown_profile_names_the_choices():
    with pytest.raises(ProfileError, match="choose one of: .*smoke"):
        load_profile("nonsense")


def test_atomic_write_keeps_old_content_on_failure(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with results.atomic_write(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_run_store_computes_once_and_resumes(tmp_path):
    store = results.RunStore(tmp_path / "runs" / "demo")
    calls = []

    def compute():
        calls.append(1)
        return {"top1": 0.5, "arr": np.float32(0.25)}

    key = {"model": "m", "seed": 0}
    assert store.run(key, compute) == {"top1": 0.5, "arr": 0.25}
    assert store.run(key, compute)["top1"] == 0.5
    assert len(calls) == 1
    record = json.loads(store.path(key).read_text())
    assert record["key"] == key and "versions" in record and record["wall_s"] >= 0
    store.run({"model": "m", "seed": 1}, compute)
    assert len(calls) == 2 and len(store.records()) == 2


def test_corrupt_run_record_names_the_file(tmp_path):
    store = results.RunStore(tmp_path)
    store.path({"a": 1}).write_text("{not json")
    with pytest.raises(ValueError, match=str(store.path({"a": 1}).name)):
        store.run({"a": 1}, dict)


def test_paper_profile_without_data_says_how_to_download():
    with pytest.raises(SessionError, match="minerals data download"):
        resolve_data_root(load_profile("paper"), "")


def test_missing_data_root_is_named(tmp_path):
    with pytest.raises(SessionError, match="does-not-exist"):
        resolve_data_root(load_profile("paper"), tmp_path / "does-not-exist")


def test_every_registered_notebook_has_a_source_and_a_toc_entry():
    from minerals.pipeline.book import toc_files
    from minerals.pipeline.reproduce import REPO_ROOT, notebooks_dir

    toc = toc_files(REPO_ROOT / "_toc.yml")
    for notebook in notebook_registry():
        assert (notebooks_dir() / f"{notebook}.py").exists(), notebook
        assert f"notebooks/{notebook}" in toc, notebook


def test_topk_is_monotone_and_exact():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([1, 1, 0, 2])
    acc = metrics.topk_accuracy(scores, labels, ks=(1, 2, 3))
    assert acc == {"top1": 0.25, "top2": 0.5, "top3": 1.0}
    assert metrics.topk_predictions(scores, 2).tolist() == [[1, 2], [0, 1], [2, 1], [0, 1]]


def test_balanced_accuracy_and_recall():
    labels = np.array([0, 0, 0, 1])
    preds = np.array([0, 0, 1, 1])
    assert metrics.balanced_accuracy(labels, preds) == pytest.approx((2 / 3 + 1) / 2)
    recall = metrics.per_class_recall(labels, preds, 3)
    assert recall[:2] == pytest.approx([2 / 3, 1.0]) and np.isnan(recall[2])


def test_bootstrap_interval_brackets_the_mean():
    values = np.random.default_rng(0).normal(1.0, 0.1, 200)
    low, high = metrics.bootstrap_ci(values, n_boot=300)
    assert low < values.mean() < high and high - low < 0.1


def test_mask_scores():
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[1:3] = True
    s = metrics.mask_scores(a, b)
    assert s["iou"] == pytest.approx(1 / 3) and s["dice"] == pytest.approx(0.5) and s["pixel_acc"] == 0.5
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.mask_scores(a, np.zeros((3, 4), bool))


def test_size_errors():
    e = metrics.size_errors(np.array([2.0, 4.0]), np.array([1.0, 5.0]))
    assert e["mae_cm"] == 1.0 and e["bias_cm"] == 0.0 and e["mape"] == pytest.approx((1 + 0.2) / 2)


def test_session_saves_declared_outputs(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from minerals.pipeline import session

    monkeypatch.setattr(session, "notebook_registry",
                        lambda: {"99_demo": {"title": "demo", "tables": ["t"], "figures": ["f"]}})
    s = session.start("99_demo", "paper", str(tmp_path), "cpu", 0, tmp_path / "results")
    with pytest.raises(SessionError, match="tables/t"):
        s.finish()
    s.save_table("t", pd.DataFrame({"a": [1]}))
    fig, ax = plt.subplots()
    s.save_figure("f", fig)
    record = json.loads(s.finish().read_text())
    assert record["outputs"] == ["figures/f", "tables/t"] and record["seed"] == 0
    assert (tmp_path / "results/paper/tables/t.csv").read_text().startswith("a")
