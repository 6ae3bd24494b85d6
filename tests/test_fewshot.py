"""Few-shot harness: schedule, sampler, notes, config, and tiny end-to-end runs (seed, resume, reuse, CLI)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from data_fixture import make_release

from minerals.fewshot import section as fewshot

from minerals.fewshot import train as fewshot_train
from minerals.cli import main
from minerals.fewshot.section import FewShotConfig
from minerals.fewshot.evaluate import evaluation_notes
from minerals.profiles import Profile
from minerals.pipeline.session import Session

TIMING = ["wall_s", "train_wall_s", "eval_s", "train_images_per_s", "test_images_per_s"]
TINY = {"subset": 4, "model": "tf_efficientnet_lite0", "pretrained": False, "resolution": 32, "epochs": 2,
        "batch_size": 8, "lr": 3e-3, "n_boot": 50}


@pytest.fixture(scope="module")
def release_root(tmp_path_factory):
    """4 colour-coded species x 10 photos, 64 x 48 px, a 4-class subset file (60/20/20 split made by the loader)."""
    return make_release(tmp_path_factory.mktemp("release"), classes=4, per_class=10, subsets=(4,))


def session(root, results, seed=0, **settings):
    profile = Profile("smoke", {"fewshot": {**TINY, **settings}})
    return Session(notebook="test", profile=profile, data_root=root, device="cpu", seed=seed, results_dir=results)


def tiny_config(s) -> FewShotConfig:
    return fewshot.plan(s.profile.section("fewshot"), seed=s.seed)[0]


def test_warmup_then_cosine_to_the_floor():
    lr = [fewshot_train.warmup_cosine(i, total=20, warmup=5, floor=0.01) for i in range(21)]
    assert lr[0] == pytest.approx(0.2) and max(lr) == pytest.approx(1.0) and lr[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lr[4:], lr[5:])) and lr[-1] == pytest.approx(0.01)


def test_balanced_sampler_evens_out_the_classes():
    labels = np.array([0] * 90 + [1] * 10)
    drawn = labels[list(fewshot_train.make_sampler(labels, True, torch.Generator().manual_seed(0)))]
    assert 0.35 < drawn.mean() < 0.65
    plain = list(fewshot_train.make_sampler(labels, False, torch.Generator().manual_seed(0)))
    assert sorted(plain) == list(range(100))


def test_notes_say_when_k_is_capped_and_classes_are_thin():
    notes = evaluation_notes(np.array([0, 0, 0, 1, 2, 2]), ["a", "b", "c", "d"], ks=(1, 3, 5))
    assert any("top5 is capped at the 4 classes" in n for n in notes)
    assert any("no test photo" in n and "d" in n for n in notes)
    assert any("fewer than 4 test photos" in n and "b (1)" in n for n in notes)
    assert evaluation_notes(np.repeat(np.arange(3), 12), ["a", "b", "c"], ks=(1,)) == []


def test_config_from_profile_resolves_defaults_and_rejects_unknown_settings():
    cfg = FewShotConfig.from_section({"epochs": 3}, resolution=None)
    assert cfg.epochs == 3 and cfg.resolution == 224  # the model's default input size
    with pytest.raises(ValueError, match="unknown setting.*epoch"):
        FewShotConfig.from_section({"epoch": 3})
    grid = fewshot.plan({"subsets": [10, 98], "grid": [{"resolution": 96}, {"pretrained": False}]}, seed=3)
    assert [(c.subset, c.resolution, c.pretrained, c.seed) for c in grid] == [
        (10, 96, True, 3), (10, 224, False, 3), (98, 96, True, 3), (98, 224, False, 3)]


def test_same_seed_gives_the_same_table_and_topk_is_monotone(release_root, tmp_path):
    tables = []
    for name in ("a", "b"):
        s = session(release_root, tmp_path / name)
        tables.append(fewshot.table([fewshot.run_config(s, tiny_config(s), echo=False)]).drop(columns=TIMING))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    row = tables[0].iloc[0]
    assert row.top1 <= row.top3 <= row.top5 <= row.top10 == 1.0
    assert {"subset", "model", "pretrained", "resolution", "epochs", "balanced_acc", "n_train", "n_test",
            "device"} <= set(tables[0].columns)
    assert "top5 is capped at the 4 classes" in row.notes


def test_a_different_seed_changes_the_weights(release_root, tmp_path):
    weights = []
    for seed in (0, 1):
        s = session(release_root, tmp_path / str(seed), seed=seed)
        model, _ = fewshot.trained_model(s, subset=4, pretrained=False)
        weights.append(model.classifier.weight.detach())
    assert not torch.equal(*weights)


def test_run_writes_predictions_and_confusion(release_root, tmp_path):
    s = session(release_root, tmp_path)
    row = fewshot.run_config(s, tiny_config(s), echo=False)
    preds = pd.read_csv(s.root / row["predictions"])
    assert len(preds) == row["n_test"] and {"id", "path", "true", "pred1", "score4"} <= set(preds.columns)
    assert "pred5" not in preds.columns  # top-10 capped at the 4 classes
    assert np.allclose(preds[[f"score{j}" for j in range(1, 5)]].sum(axis=1), 1, atol=1e-4)
    confusion = pd.read_csv(s.root / row["confusion"], index_col=0)
    assert confusion.to_numpy().sum() == row["n_test"] and list(confusion.columns) == list(confusion.index)
    assert row["top1"] == pytest.approx(np.trace(confusion.to_numpy()) / row["n_test"])
    lines = (s.root / row["checkpoint"]).parent.joinpath("train.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_finished_runs_are_reused_and_deleted_checkpoints_retrained(release_root, tmp_path, monkeypatch):
    s = session(release_root, tmp_path)
    cfg = tiny_config(s)
    first = fewshot.run_config(s, cfg, echo=False)
    real_train = fewshot.train
    monkeypatch.setattr(fewshot, "train", lambda *a, **k: pytest.fail("a finished run was retrained"))
    assert fewshot.run_config(s, cfg, echo=False)["top1"] == first["top1"]
    model, info = fewshot.trained_model(s, subset=4, pretrained=False)
    assert not model.training and info["classes"] == sorted(info["classes"]) and info["resolution"] == 32
    (s.root / first["checkpoint"]).unlink()  # last.pt stays: it must not be taken as a finished run
    calls = []
    monkeypatch.setattr(fewshot, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    fewshot.trained_model(s, subset=4, pretrained=False)
    assert calls == [1] and (s.root / first["checkpoint"]).is_file()


def test_the_section_runs_the_grid_and_a_moved_release_reuses_its_runs(release_root, tmp_path, monkeypatch):
    import shutil

    from minerals.fewshot import plan as fewshot_plan

    monkeypatch.setattr(fewshot_plan, "plan_table", lambda configs, ref: pd.DataFrame({"reference": [ref["model"]]}))
    s = session(release_root, tmp_path / "results", subsets=[4, 98])  # no minerals_98.csv: skipped
    grid = fewshot.FewShotGrid.from_section(s.profile.section("fewshot"), s.seed)
    tables = fewshot.run(s, grid)
    assert set(tables) == {"fewshot", "fewshot_plan", "fewshot_history"} and len(tables["fewshot"]) == 1
    assert tables["fewshot_history"]["epoch"].tolist() == [1, 2] and tables["fewshot_plan"]["reference"].size == 1
    moved = shutil.copytree(release_root, tmp_path / "elsewhere" / "release")
    monkeypatch.setattr(fewshot, "train", lambda *a, **k: pytest.fail("a moved release retrained its runs"))
    again = fewshot.run(session(moved, tmp_path / "results", subsets=[4, 98]), grid)
    pd.testing.assert_frame_equal(again["fewshot"], tables["fewshot"], check_like=True)  # reused, so equal
    with pytest.raises(ValueError, match="no minerals_<n>.csv for any subset"):
        fewshot.run(s, fewshot.FewShotGrid.from_section({**TINY, "subsets": [98]}))


def test_an_interrupted_run_resumes_to_the_same_weights(release_root, tmp_path, monkeypatch):
    whole = session(release_root, tmp_path / "whole")
    expected, _ = fewshot.trained_model(whole, subset=4, pretrained=False)
    cut = session(release_root, tmp_path / "cut")

    def interrupt(line):
        raise KeyboardInterrupt

    monkeypatch.setattr(fewshot_train.tqdm, "write", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fewshot.train_run(cut, tiny_config(cut), echo=True)
    monkeypatch.undo()
    log = fewshot.checkpoint_path(cut, tiny_config(cut)).with_name("train.jsonl")
    assert len(log.read_text().splitlines()) == 1  # stopped after epoch 1
    resumed, _ = fewshot.trained_model(cut, subset=4, pretrained=False)
    for (name, a), b in zip(expected.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_load_checkpoint_names_the_missing_path(tmp_path):
    with pytest.raises(fewshot.CheckpointError, match=str(tmp_path / "none.pt")):
        fewshot.load_checkpoint(tmp_path / "none.pt")


def test_cli_errors_are_one_line(release_root, tmp_path, capsys):
    assert main(["fewshot", "eval", "--data-root", str(release_root), "--checkpoint", str(tmp_path / "x.pt")]) == 2
    assert f"no checkpoint at {tmp_path / 'x.pt'}" in capsys.readouterr().err
    assert main(["fewshot", "eval", "--data-root", str(release_root), "--results", str(tmp_path), "--subset", "4"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint at" in err and str(tmp_path) in err and "minerals fewshot train" in err
    assert main(["fewshot", "train", "--data-root", str(release_root), "--model", "convnxt_tiny"]) == 2
    assert "did you mean: convnext_tiny" in capsys.readouterr().err


def test_cli_train_then_eval_a_checkpoint(release_root, tmp_path, capsys):
    args = ["--data-root", str(release_root), "--results", str(tmp_path), "--subset", "4", "--no-pretrained",
            "--resolution", "32", "--epochs", "1", "--batch-size", "8"]
    assert main(["fewshot", "train", *args]) == 0
    checkpoint = capsys.readouterr().out.strip().rsplit("checkpoint ", 1)[1]
    assert main(["fewshot", "eval", *args]) == 0
    assert '"top1"' in capsys.readouterr().out
    assert main(["fewshot", "eval", "--data-root", str(release_root), "--checkpoint", checkpoint, "--split", "val",
                 "--out", str(tmp_path / "val")]) == 0
    assert (tmp_path / "val" / "predictions.csv").is_file()


def test_changed_data_is_not_mistaken_for_a_stored_run(tmp_path):
    from minerals.data import open_release

    root = make_release(tmp_path / "r", classes=4, per_class=10, subsets=(4,))
    before = fewshot.data_key(open_release(root), 4)
    assert fewshot.data_key(open_release(root), 4) == before
    csv = root / "minerals_4.csv"
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:-1]))  # drop one photo
    assert fewshot.data_key(open_release(root), 4) != before
