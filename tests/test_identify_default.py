"""`minerals identify PHOTO...` with no model flag: the best classifier available, and it says which."""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from PIL import Image

from minerals.cli import main
from minerals.identify import default
from minerals.results import RunStore


def _checkpoint(path, synthetic=True):
    from minerals.fewshot.train import save_checkpoint
    from minerals.models.classifiers import create_classifier

    torch.manual_seed(0)
    info = {"model": "test_efficientnet", "pretrained": False, "subset": 3, "classes": ["Beryl", "Galena", "Quartz"],
            "num_classes": 3, "resolution": 64, "mean": [0.5] * 3, "std": [0.5] * 3, "crop_pct": 1.0,
            "data": {"synthetic": synthetic, "root": "synthetic"}}
    save_checkpoint(path, {"model": create_classifier("test_efficientnet", 3).state_dict(), "info": info})


def _results_with_runs(tmp_path, val_top1: dict[str, float]):
    """A results folder as a smoke run leaves it: train records under runs/fewshot, checkpoints under artifacts."""
    root = tmp_path / "results" / "smoke"
    store = RunStore(root / "runs" / "fewshot")
    for name, top1 in val_top1.items():
        rel = f"artifacts/fewshot/{name}/best.pt"
        (root / rel).parent.mkdir(parents=True)
        _checkpoint(root / rel)
        store.run({"stage": "train", "config": {"name": name}}, lambda: {"checkpoint": rel, "best_val_top1": top1})
    return tmp_path / "results"


def test_the_best_checkpoint_of_the_results_folder_is_chosen(tmp_path):
    results = _results_with_runs(tmp_path, {"a": 0.4, "b": 0.9, "c": 0.6})
    path, summary = default.best_checkpoint(results)
    assert path.parent.name == "b" and summary["best_val_top1"] == 0.9
    assert default.best_checkpoint(tmp_path / "nothing") is None


def test_identify_without_model_flags_uses_the_checkpoint_and_says_so(tmp_path, capsys):
    results = _results_with_runs(tmp_path, {"run": 0.5})
    photos = []
    for name, colour in (("a.jpg", (200, 40, 40)), ("b.jpg", (40, 200, 40))):
        rgb = np.zeros((96, 128, 3), np.uint8)
        rgb[20:70, 30:90] = colour
        Image.fromarray(rgb).save(tmp_path / name)
        photos.append(str(tmp_path / name))
    (tmp_path / "bad.jpg").write_text("not a photo")
    code = main(["identify", *photos, str(tmp_path / "bad.jpg"), "--json", "--out", str(tmp_path / "out"),
                 "--results", str(results), "--no-progress"])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 0 and len(lines) == 3
    assert [r["status"] for r in lines] == ["ok", "ok", "error"] and lines[2]["path"].endswith("bad.jpg")
    assert "classifier: few-shot checkpoint" in captured.err and "synthetic" in captured.err


def test_offline_without_weights_fails_at_once_with_the_fetch_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINERALS_OFFLINE", "1")
    monkeypatch.setattr(default, "clip_weights_cached", lambda: False)
    (tmp_path / "a.jpg").write_bytes(b"")
    start = time.perf_counter()
    code = main(["identify", str(tmp_path / "a.jpg"), "--results", str(tmp_path / "empty")])
    assert time.perf_counter() - start < 1.0
    err = capsys.readouterr().err
    assert code == 2 and "open_clip.create_model('ViT-B-32', pretrained='openai')" in err and len(err.splitlines()) == 1


def test_species_of_a_release(tiny_release_root):
    names, source = default.species(tiny_release_root)
    assert len(names) == 6 and str(tiny_release_root) in source
