"""The whole smoke profile through the same code path as `minerals reproduce`, then `minerals check`.

Three runs share one synthetic release: the pinned profile (the reference's kernel class on any x86-64
machine with AVX2), the training sections again under the same class (identical tables), and the
training sections under a forced other class (ATen default + oneDNN SSE4.1, the pin bypassed), which
must pass the check within sampling noise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from PIL import Image

from minerals import check
from minerals.check import rules
from minerals.cli import main
from minerals.pipeline.registry import notebook_registry
from minerals.pipeline.reproduce import reproduce
from minerals.runtime import ISA_ENV, PIN_SWITCH, THREAD_ENV

TRAINING = ["02_few_shot", "05_segmentation"]
TRAINED_TABLES = ["fewshot", "segmentation"]


# The smoke release generated as `minerals reproduce` does from a shell: in a fresh process, the profile's CPU pin
# applied before numpy loads. numpy's OpenBLAS fixes its kernels when it loads (this test process loaded it long
# ago), and under another kernel class (an AVX-512 machine's own) the shading's matrix products, and so a few
# photo pixels, differ in their last bit: another data fingerprint, other numbers.
GENERATE_PINNED = """
from minerals import runtime
from minerals.pipeline.session import resolve_data_root
from minerals.profiles import load_profile
profile = load_profile("smoke")
runtime.pin_cpu(profile.settings)
resolve_data_root(profile, None)
"""


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """{"pinned", "again", "other"}: results folders of the three runs (environment restored after)."""
    saved = dict(os.environ)
    root = tmp_path_factory.mktemp("smoke")
    os.environ["MINERALS_CACHE"] = str(root / "cache")
    try:
        subprocess.run([sys.executable, "-c", GENERATE_PINNED], env=os.environ, check=True)
        runs = {"pinned": root / "pinned", "again": root / "again", "other": root / "other"}
        done = reproduce("smoke", results_dir=runs["pinned"], build_root=root / "build", progress=False)
        assert [r.notebook for r in done] == sorted(notebook_registry())
        reproduce("smoke", only=TRAINING, results_dir=runs["again"], build_root=root / "build-again", progress=False)
        for name in [*ISA_ENV["avx2"], *THREAD_ENV]:
            os.environ.pop(name, None)
        os.environ.update({PIN_SWITCH: "off", **ISA_ENV["default"]})
        shutil.copytree(runs["pinned"] / "smoke" / "tables", runs["other"] / "smoke" / "tables")
        for table in TRAINED_TABLES:
            (runs["other"] / "smoke" / "tables" / f"{table}.csv").unlink()
        reproduce("smoke", only=TRAINING, results_dir=runs["other"], build_root=root / "build-other", progress=False)
        yield runs, root
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.slow
def test_smoke_profile_writes_every_declared_output_and_passes_the_check(smoke_runs):
    runs, root = smoke_runs
    results = runs["pinned"] / "smoke"
    for notebook, declared in notebook_registry().items():
        assert (root / "build" / "notebooks" / "smoke" / f"{notebook}.ipynb").stat().st_size > 0
        record = json.loads((results / "runs" / "notebooks" / f"{notebook}.json").read_text())
        assert record["profile"] == "smoke" and record["commit"] and record["versions"]["torch"]
        assert record["machine"]["threads"] == 2 and record["machine"]["cpu"]
        assert declared["tables"] or declared["figures"], f"{notebook} declares no outputs"
        for table in declared["tables"]:
            df = pd.read_csv(results / "tables" / f"{table}.csv")
            assert len(df) > 0 and len(df.columns) > 1, f"{notebook}: table {table} is empty"
        for figure in declared["figures"]:
            with Image.open(results / "figures" / f"{figure}.png") as im:
                assert min(im.size) > 50, f"{notebook}: figure {figure} is degenerate"
    claims = check.compare("smoke", runs["pinned"])
    assert check.passed(claims), check.format_lines(claims)
    if "avx2" in open("/proc/cpuinfo", encoding="utf-8").read():  # the pin applies: the reference's class
        assert record["machine"]["aten_isa"] == "AVX2"
    assert main(["check", "--profile", "smoke", "--results", str(runs["pinned"])]) == 0


@pytest.mark.slow
def test_the_same_class_twice_gives_identical_tables(smoke_runs):
    runs, _ = smoke_runs
    specs = rules.load_tolerances()
    for table in TRAINED_TABLES:
        first, second = (check.read_table(runs[r] / "smoke" / "tables" / f"{table}.csv") for r in ("pinned", "again"))
        kept = [c for c in first.columns if c not in specs[table].ignore]
        pd.testing.assert_frame_equal(first[kept], second[kept])


@pytest.mark.slow
def test_another_kernel_class_passes_within_sampling_noise(smoke_runs):
    runs, _ = smoke_runs
    record = json.loads((runs["other"] / "smoke" / "runs" / "notebooks" / "02_few_shot.json").read_text())
    assert record["machine"]["aten_isa"] == "DEFAULT"
    claims = check.compare("smoke", runs["other"])
    assert claims.mode == check.STATISTICAL and "aten_isa DEFAULT" in claims.reason
    assert check.passed(claims), check.format_lines(claims)
