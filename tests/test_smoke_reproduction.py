"""The whole smoke profile through the same code path as `minerals reproduce`, then `minerals check`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from minerals.cli import main
from minerals.reproduce import reproduce
from minerals.session import notebook_registry


@pytest.mark.slow
def test_smoke_profile_writes_every_declared_output_and_passes_the_check(tmp_path, monkeypatch):
    monkeypatch.setenv("MINERALS_CACHE", str(tmp_path / "cache"))
    results_dir = tmp_path / "results"
    runs = reproduce("smoke", results_dir=results_dir, build_root=tmp_path / "build", progress=False)
    registry = notebook_registry()
    assert [r.notebook for r in runs] == sorted(registry)
    root = results_dir / "smoke"
    for notebook, declared in registry.items():
        assert (tmp_path / "build" / "notebooks" / "smoke" / f"{notebook}.ipynb").stat().st_size > 0
        record = json.loads((root / "runs" / "notebooks" / f"{notebook}.json").read_text())
        assert record["profile"] == "smoke" and record["commit"] and record["versions"]["torch"]
        assert declared["tables"] or declared["figures"], f"{notebook} declares no outputs"
        for table in declared["tables"]:
            df = pd.read_csv(root / "tables" / f"{table}.csv")
            assert len(df) > 0 and len(df.columns) > 1, f"{notebook}: table {table} is empty"
        for figure in declared["figures"]:
            with Image.open(root / "figures" / f"{figure}.png") as im:
                assert min(im.size) > 50, f"{notebook}: figure {figure} is degenerate"
    assert main(["check", "--profile", "smoke", "--results", str(results_dir)]) == 0
