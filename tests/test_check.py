"""The reproduction check: ledger parsing, smoke and paper comparisons, the CLI, the report page."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from minerals import check
from minerals.cam import DEFAULT_BACKBONE, DEFAULT_METHOD, DEFAULT_THRESHOLD
from minerals.cli import main

FEWSHOT = pd.DataFrame({
    "subset": [10, 10, 98], "model": ["tf_efficientnet_lite0"] * 3, "pretrained": [True, False, True],
    "resolution": [224, 224, 224], "epochs": [2, 2, 2], "top1": [0.625, 0.25, 0.1875],
    "top3": [0.875, 0.5, 0.375], "top5": [1.0, 0.75, 0.5], "top10": [1.0, 1.0, 0.75],
    "balanced_acc": [0.6, 0.2, float("nan")], "n_train": [80, 80, 160], "n_test": [16, 16, 32],
    "wall_s": [3.2, 2.9, 5.0], "device": ["cpu"] * 3,
})
SIZE = pd.DataFrame({"method": ["baseline", "improved"], "n": [40, 40], "coverage": [0.7, 0.975],
                     "mae_cm": [1.25, 0.4], "rmse_cm": [1.8, 0.55], "r2": [0.62, 0.93], "mape": [0.21, 0.06]})
TOLERANCES = """
[defaults]
ignore = ["wall_s"]

[fewshot]
key = ["subset", "model", "pretrained", "resolution", "epochs"]

[size]
key = ["method"]
[size.tolerance]
mae_cm = 0.05
"""


def patch(monkeypatch, name: str, value) -> None:
    """Replace a path helper of the check wherever its modules imported it."""
    for module in (check.core, check.smoke):
        monkeypatch.setattr(module, name, value)


def write_tables(results, tables: dict[str, pd.DataFrame], profile: str = "smoke"):
    folder = results / profile / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture
def smoke(tmp_path, monkeypatch):
    """A private reference folder (written by update_reference) and a results folder that matches it."""
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "tolerances.toml").write_text(TOLERANCES, encoding="utf-8")
    patch(monkeypatch, "reference_dir", lambda: reference)
    patch(monkeypatch, "declared_tables", lambda: ["fewshot", "size"])
    results = tmp_path / "results"
    folder = write_tables(results, {"fewshot": FEWSHOT, "size": SIZE})
    assert check.update_reference(results) == {"fewshot": "new", "size": "new"}
    return reference, results, folder


# ------------------------------------------------------------------------------------------ the ledger

def test_shipped_ledger_parses_and_holds_the_known_subset_table():
    ledger = check.load_ledger()
    values = {(r.table, r.key_text, r.metric): r.text for r in ledger}
    # The subset table as republished with the dataset (../shared/reference/mineralimage5k.md), read
    # from the data module's paper_subsets.csv.
    known = {"full": (5139, 44784, 1), "360": (360, 31982, 17), "98": (98, 23496, 78),
             "36": (36, 16001, 187), "10": (10, 8549, 462)}
    for subset, numbers in known.items():
        for metric, number in zip(("classes", "images", "min_per_class"), numbers):
            assert values[("subsets", f"subset={subset}", f"found_{metric}")] == str(number)
    assert values[("subsets", "subset=size", "found_images")] == "18076"
    assert values[("subsets", "subset=segmentation", "found_images")] == ">100"
    assert ("subsets", "subset=size", "found_classes") not in values  # a dash in the paper
    # Table 3 exists for ResNet50 on 10/98/360 at top-1/3/5/10, waiting for the PDF.
    table3 = [r for r in ledger if r.table == "fewshot" and r.key.get("model") == "resnet50.a1_in1k"]
    assert {(r.key["subset"], r.metric) for r in table3} == {(s, f"top{k}") for s in ("10", "98", "360")
                                                             for k in (1, 3, 5, 10)}
    assert all(r.value is None for r in table3)
    assert {r.table for r in ledger} >= {"subsets", "fewshot", "zeroshot", "size", "segmentation"}


LEDGER_HEADER = ",".join(check.ledger.LEDGER_COLUMNS) + "\n"


@pytest.mark.parametrize("name, text, message", [
    # malformed ledger rows: the error names the file and the line
    ("ledger.csv", "fewshot,subset=10,top1,seventy,percent,2,Table 3,", "not a number"),
    ("ledger.csv", "fewshot,subset=10,top1,70,percent,-1,Table 3,", "tolerance"),
    ("ledger.csv", "fewshot,subset=10,top1,70,permille,2,Table 3,", "unknown unit"),
    ("ledger.csv", "fewshot,subset 10,top1,70,percent,2,Table 3,", "column=value"),
    ("ledger.csv", "fewshot,subset=10,top1,70,percent,2,Table 3,\nfewshot,SUBSET=10,top1,71,percent,2,Table 3,",
     "duplicate"),
    # malformed tolerance files
    ("tolerances.toml", "[size]\nkeys = ['method']\n", "may hold only .*; found keys"),
    ("tolerances.toml", "[size.tolerance]\nmae_cm = -1\n", "numbers >= 0"),
    ("tolerances.toml", "[size\n", "cannot read"),
    # malformed statistical rules
    ("tolerances.toml", '[fewshot]\nnoise = { top1 = "poisson" }\n', "unknown rule 'poisson'"),
    ("tolerances.toml", '[fewshot]\nnoise = { top1 = "bootstrap:lo" }\n', "takes 2 column name"),
    ("tolerances.toml", '[fewshot]\nnoise = { top1 = "binomial" }\n', "needs the photo count"),
    ("tolerances.toml", '[rules]\nz = -1\n', "z, a number > 0"),
])
def test_a_malformed_reference_file_names_itself(tmp_path, name, text, message):
    path = tmp_path / name
    ledger = name == "ledger.csv"
    path.write_text(LEDGER_HEADER + text + "\n" if ledger else text, encoding="utf-8")
    with pytest.raises(check.CheckError, match=message) as err:
        (check.load_ledger if ledger else check.load_tolerances)(path)
    assert (f"{path}, line " if ledger else str(path)) in str(err.value)


def test_a_ledger_without_its_columns_says_which(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text("table,key,metric\nfewshot,subset=10,top1\n", encoding="utf-8")
    with pytest.raises(check.CheckError, match="missing column.*paper_value"):
        check.load_ledger(path)


def test_paper_table_pivots_the_ledger():
    table = check.paper_table("subsets")
    row = table.set_index("subset").loc["98"]
    assert (row["found_classes"], row["found_images"], row["found_min_per_class"]) == (98, 23496, 78)
    assert table.set_index("subset").loc["segmentation", "found_images"] == ">100"
    with pytest.raises(check.CheckError, match="no rows"):
        check.paper_table("nonsense")


# ------------------------------------------------------------------------------------------ smoke

def test_identical_tables_pass_and_timing_is_not_compared(smoke):
    reference, results, folder = smoke
    assert "wall_s" not in pd.read_csv(reference / "fewshot.csv").columns
    slower = FEWSHOT.assign(wall_s=FEWSHOT.wall_s * 10).iloc[::-1]  # timing and row order do not matter
    write_tables(results, {"fewshot": slower})
    claims = check.compare("smoke", results)
    assert claims and all(c.status == check.PASS for c in claims), check.format_lines(claims)
    # every value column of every row is a claim; key columns and ignored ones are not
    assert len(claims) == 3 * 8 + 2 * 6
    assert check.passed(claims)


def test_changing_one_number_fails_and_names_it(smoke, capsys):
    _, results, folder = smoke
    changed = FEWSHOT.copy()
    changed.loc[1, "top3"] = 0.5625
    changed.to_csv(folder / "fewshot.csv", index=False)
    assert main(["check", "--profile", "smoke", "--results", str(results)]) == 1
    out = capsys.readouterr().out
    failing = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1, out
    assert "fewshot[subset=10, model=tf_efficientnet_lite0, pretrained=False, resolution=224, epochs=2].top3" in failing[0]
    assert "0.5" in failing[0] and "0.5625" in failing[0] and "+0.0625" in failing[0]
    assert "1 fail" in out.splitlines()[-1]


def test_a_declared_tolerance_is_honoured(smoke):
    _, results, folder = smoke
    write_tables(results, {"size": SIZE.assign(mae_cm=SIZE.mae_cm + 0.04)})
    assert check.passed(check.compare("smoke", results))
    write_tables(results, {"size": SIZE.assign(mae_cm=SIZE.mae_cm + 0.06)})
    failed = [c for c in check.compare("smoke", results) if c.status == check.FAIL]
    assert [(c.key, c.metric) for c in failed] == [("method=baseline", "mae_cm"), ("method=improved", "mae_cm")]
    assert failed[0].tolerance == "±0.05" and failed[0].delta == pytest.approx(0.06)


def test_exact_means_exact_beyond_float_noise(smoke):
    _, results, _ = smoke
    write_tables(results, {"size": SIZE.assign(r2=SIZE.r2 * (1 + 1e-12))})
    assert check.passed(check.compare("smoke", results))
    write_tables(results, {"size": SIZE.assign(r2=SIZE.r2 + 1e-6)})
    assert not check.passed(check.compare("smoke", results))


def test_nan_matches_only_nan(smoke):
    _, results, _ = smoke
    write_tables(results, {"fewshot": FEWSHOT.assign(balanced_acc=[0.6, 0.2, 0.3])})
    failed = [c for c in check.compare("smoke", results) if c.status != check.PASS]
    assert [(c.metric, c.status) for c in failed] == [("balanced_acc", check.FAIL)]
    assert math.isnan(failed[0].expected) and failed[0].ours == 0.3


def test_missing_table_row_and_column_are_missing_and_extra_ones_fail(smoke, capsys):
    _, results, folder = smoke
    (folder / "size.csv").unlink()
    moved = FEWSHOT.iloc[:1].assign(subset=360, extra=1)  # one row re-keyed, one column added, one dropped
    write_tables(results, {"fewshot": pd.concat([FEWSHOT.iloc[1:], moved]).drop(columns="top10")})
    claims = check.compare("smoke", results)
    by_status = {s: [c for c in claims if c.status == s] for s in check.STATUSES}
    assert {c.table for c in by_status[check.MISSING] if "no results table" in c.detail} == {"size"}
    assert {(c.key.split(",")[0], c.metric) for c in by_status[check.MISSING] if c.table == "fewshot"} >= {
        ("subset=10", "top1"), ("subset=10", "top10"), ("subset=98", "top10")}
    assert {c.metric for c in by_status[check.FAIL]} == {"(row)", "extra"}
    assert main(["check", "--profile", "smoke", "--results", str(results)]) == 1


def test_a_declared_table_without_reference_is_missing(smoke, monkeypatch):
    _, results, _ = smoke
    patch(monkeypatch, "declared_tables", lambda: ["fewshot", "size", "segmentation"])
    claims = check.compare("smoke", results)
    missing = [c for c in claims if c.status == check.MISSING]
    assert [(c.table, c.metric) for c in missing] == [("segmentation", "(table)")]
    assert "--update-reference" in missing[0].detail


def test_update_reference_reports_changes_and_refuses_incomplete_results(smoke, monkeypatch):
    reference, results, folder = smoke
    assert check.update_reference(results) == {"fewshot": "unchanged", "size": "unchanged"}
    (reference / "stale.csv").write_text("a\n1\n", encoding="utf-8")
    write_tables(results, {"size": SIZE.assign(n=41)})
    assert check.update_reference(results) == {"fewshot": "unchanged", "size": "changed", "stale": "removed"}
    assert not (reference / "stale.csv").exists()
    (folder / "size.csv").unlink()
    with pytest.raises(check.CheckError, match="no smoke table size"):
        check.update_reference(results)
    write_tables(results, {"size": pd.concat([SIZE, SIZE])})
    with pytest.raises(check.CheckError, match="not unique on the key"):
        check.update_reference(results)
    assert pd.read_csv(reference / "size.csv").n.tolist() == [41, 41]  # nothing written on refusal


def test_update_reference_via_cli_then_check_passes(smoke, capsys):
    _, results, _ = smoke
    assert main(["check", "--profile", "smoke", "--results", str(results), "--update-reference"]) == 0
    out = capsys.readouterr().out
    assert "reference fewshot: unchanged" in out and "every one of 36 checked numbers reproduces" in out
    assert main(["check", "--profile", "paper", "--update-reference"]) == 2
    assert "smoke profile only" in capsys.readouterr().err


def test_nothing_to_check_is_an_error(tmp_path, monkeypatch, capsys):
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "tolerances.toml").write_text("", encoding="utf-8")
    patch(monkeypatch, "reference_dir", lambda: reference)
    patch(monkeypatch, "declared_tables", lambda: [])
    (tmp_path / "smoke" / "tables").mkdir(parents=True)
    assert main(["check", "--profile", "smoke", "--results", str(tmp_path)]) == 1
    assert "nothing to check" in capsys.readouterr().err


def test_json_is_one_object_without_nan(smoke, capsys):
    _, results, _ = smoke
    assert main(["check", "--profile", "smoke", "--results", str(results), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is True and payload["profile"] == "smoke"
    assert payload["counts"]["pass"] == len(payload["claims"]) == 36
    nan_claim = next(c for c in payload["claims"] if c["metric"] == "balanced_acc" and c["key"].startswith("subset=98"))
    assert nan_claim["expected"] is None and nan_claim["status"] == "pass"


# ------------------------------------------------------------------------------------------ paper

LEDGER = """table,key,metric,paper_value,unit,tolerance,where,note
fewshot,subset=10;model=TF_EfficientNet_Lite0;pretrained=true,top1,62,percent,1,Table 3,
fewshot,subset=10;model=tf_efficientnet_lite0;pretrained=true,top3,80,percent,1,Table 3,
fewshot,subset=10;model=tf_efficientnet_lite0,top5,100,percent,1,Table 3,
fewshot,subset=98;model=tf_efficientnet_lite0,top10,,percent,1,Table 3,
size,method=baseline,n,>30,count,0,size section,
size,method=improved,n,>40,count,0,size section,
size,method=baseline,mape,21,percent,0.5,size section,
segmentation,method=gradcam,miou,0.5,fraction,0.05,segmentation section,
"""


def test_paper_claims_convert_units_and_name_every_outcome(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text(LEDGER, encoding="utf-8")
    results = tmp_path / "results"
    write_tables(results, {"fewshot": FEWSHOT, "size": SIZE}, profile="paper")
    claims = {(c.table, c.key, c.metric): c for c in check.compare_paper(results, check.load_ledger(path))}
    top1 = claims[("fewshot", "subset=10, model=TF_EfficientNet_Lite0, pretrained=true", "top1")]
    assert (top1.status, top1.expected, top1.ours) == (check.PASS, 62.0, 62.5)  # 0.625 shown as 62.5 %
    top3 = claims[("fewshot", "subset=10, model=tf_efficientnet_lite0, pretrained=true", "top3")]
    # 7.5 points off on 16 test photos is within the 95 % binomial band (about 19 points)
    assert top3.status == check.PASS and top3.delta == pytest.approx(7.5) and top3.n == 16
    z = check.load_tolerances()[""].z
    assert top3.allowed == pytest.approx(100 * z * math.sqrt((0.8 * 16 + 2) / 20 * (1 - (0.8 * 16 + 2) / 20) / 20))
    ambiguous = claims[("fewshot", "subset=10, model=tf_efficientnet_lite0", "top5")]
    assert ambiguous.status == check.MISSING and "2 rows" in ambiguous.detail
    untranscribed = claims[("fewshot", "subset=98, model=tf_efficientnet_lite0", "top10")]
    assert untranscribed.status == check.NOT_TRANSCRIBED and untranscribed.ours == 75.0
    assert claims[("size", "method=baseline", "n")].status == check.PASS  # 40 > 30
    assert claims[("size", "method=improved", "n")].status == check.FAIL  # 40 is not > 40
    assert claims[("size", "method=baseline", "mape")].status == check.PASS
    assert "no results table paper/tables/segmentation.csv" in claims[("segmentation", "method=gradcam", "miou")].detail
    line = check.summary_line(list(claims.values()))
    assert line == ("Paper profile: 4 of 7 transcribed paper numbers reproduce; 1 fail; "
                    "2 missing; 1 paper numbers not transcribed yet.")


def test_paper_check_without_results_exits_nonzero(tmp_path, capsys):
    assert main(["check", "--profile", "paper", "--results", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "not transcribed" in out and "missing" in out


# ------------------------------------------------------------------------------------------ report

def test_summary_line_of_the_smoke_profile_counts_untranscribed_ledger_rows(smoke):
    _, results, _ = smoke
    line = check.summary_line(check.compare("smoke", results))
    untranscribed = sum(r.value is None for r in check.load_ledger())
    assert line == (f"Smoke profile: every one of 36 checked numbers reproduces within sampling noise; {untranscribed} "
                    "paper numbers not transcribed yet.")


def _sphinx_build(tmp_path, pages: dict[str, str]) -> None:
    from sphinx.cmd.build import build_main

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["myst_parser"]\nmyst_enable_extensions = ["colon_fence", "dollarmath"]\n'
                                 'exclude_patterns = ["_build"]\n', encoding="utf-8")
    (src / "index.md").write_text("# Index\n\n```{toctree}\n" + "\n".join(pages) + "\n```\n", encoding="utf-8")
    for name, text in pages.items():
        (src / f"{name}.md").write_text(text, encoding="utf-8")
    warnings = tmp_path / "warnings.txt"
    status = build_main(["-W", "-q", "-b", "html", "-w", str(warnings), str(src), str(tmp_path / "html")])
    assert status == 0, warnings.read_text()


def test_report_pages_build_with_warnings_as_errors(smoke, tmp_path, monkeypatch):
    _, results, folder = smoke
    patch(monkeypatch, "declared_tables", lambda: ["fewshot", "size", "segmentation"])  # no reference yet
    changed = FEWSHOT.copy()
    changed.loc[0, "model"] = "odd|name_with__underscores*"
    changed.to_csv(folder / "fewshot.csv", index=False)
    smoke_md = check.render_markdown(check.compare("smoke", results), "smoke")
    paper_md = check.render_markdown(check.compare("paper", tmp_path), "paper")
    assert smoke_md.startswith("# Reproduction report\n") and "**FAIL**" in smoke_md
    assert "## The paper's numbers" in smoke_md and "`subset=segmentation`" in smoke_md
    assert "**No reference table** `minerals/resources/smoke_reference/segmentation.csv`" in smoke_md
    assert "Table 3" in paper_md and "not transcribed" in paper_md
    _sphinx_build(tmp_path, {"smoke": smoke_md, "paper": paper_md})
    html = (tmp_path / "html" / "smoke.html").read_text(encoding="utf-8")
    # the failures, the counts per table, one ledger table per paper table
    assert html.count("<table") == 1 + 1 + len({r.table for r in check.load_ledger()})
    assert html.index("What does not reproduce") < html.index("Counts per table")
    assert "odd|name_with__underscores*" in html


def test_results_may_name_the_profile_folder_itself(smoke):
    _, results, _ = smoke
    assert check.passed(check.compare("smoke", results / "smoke"))


def test_unknown_profile_is_refused():
    with pytest.raises(check.CheckError, match="unknown profile 'nonsense'"):
        check.compare("nonsense", "results")


@pytest.mark.parametrize("table_id", sorted(p.stem for p in check.reference_dir().glob("*.csv")) or ["(none yet)"])
def test_committed_smoke_reference_fits_its_tolerances(table_id):
    """Each committed reference table is declared, unique on its key, and has every toleranced column."""
    specs = check.load_tolerances()
    if table_id == "(none yet)":
        pytest.skip("no smoke reference committed yet: `minerals check --profile smoke --update-reference`")
    assert table_id in check.declared_tables(), f"{table_id}.csv is not declared in notebooks.toml"
    table = check.read_table(check.reference_dir() / f"{table_id}.csv")
    spec = specs.get(table_id, check.TableSpec())
    assert set(spec.key) <= set(table.columns)
    assert not spec.key or not table.duplicated(list(spec.key)).any()
    assert set(spec.tolerance) <= set(table.columns)
    assert not spec.ignore & set(table.columns), "ignored (timing) columns are not committed"


def test_keys_match_numerically_and_a_repeated_row_fails():
    spec = check.TableSpec(key=("subset", "resolution"))
    expected = pd.DataFrame({"subset": ["10"], "resolution": ["224"], "top1": ["0.5"]})
    ours = pd.DataFrame({"subset": ["10"], "resolution": ["224.0"], "top1": ["0.50"]})
    assert [c.status for c in check.compare_tables("t", expected, ours, spec)] == [check.PASS]
    repeated = check.compare_tables("t", expected, pd.concat([ours, ours]), spec)
    assert [(c.metric, c.status) for c in repeated] == [("top1", check.PASS), ("(row)", check.FAIL), ("(row)", check.FAIL)]


def test_rows_match_by_position_without_a_key():
    expected = pd.DataFrame({"name": ["a", "b"], "value": ["1", "2"]})
    claims = check.compare_tables("t", expected, expected.iloc[::-1].reset_index(drop=True), check.TableSpec())
    assert [(c.key, c.metric, c.status) for c in claims if c.status == check.FAIL] == [
        ("row 0", "name", check.FAIL), ("row 0", "value", check.FAIL), ("row 1", "name", check.FAIL),
        ("row 1", "value", check.FAIL)]


# ------------------------------------------------------------------------------ modes and noise rules

AVX2 = {"arch": "x86_64", "device": "cpu", "aten_isa": "AVX2", "dnnl_max_isa": "AVX2", "mkl_cbwr": "AVX2,STRICT",
        "openblas_coretype": "Haswell", "threads": 2, "torch": "2.14.1", "onednn": "3.12.0", "cpu": "reference CPU"}


def record_machine(results, machine: dict, notebooks=("02_few_shot",)):
    for notebook in notebooks:
        path = results / "smoke" / "runs" / "notebooks" / f"{notebook}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"notebook": notebook, "machine": machine}), encoding="utf-8")


def test_the_mode_follows_the_machine_class(smoke):
    reference, results, _ = smoke
    record_machine(results, AVX2)
    check.update_reference(results, reference)
    assert json.loads((reference / "machine.json").read_text())["notebooks"]["02_few_shot"]["aten_isa"] == "AVX2"
    same = check.compare("smoke", results)
    assert same.mode == check.EXACT and "same kernel class" in same.reason and check.passed(same)
    record_machine(results, {**AVX2, "aten_isa": "DEFAULT", "cpu": "another CPU"})
    other = check.compare("smoke", results)
    assert other.mode == check.STATISTICAL and "aten_isa DEFAULT (reference AVX2)" in other.reason
    assert check.mode_sentence(other).startswith("Mode within sampling noise")


def test_same_class_but_different_bits_falls_back_to_noise_and_says_so(smoke):
    reference, results, folder = smoke
    record_machine(results, AVX2)
    check.update_reference(results, reference)
    (reference / "tolerances.toml").write_text(TOLERANCES + '[fewshot.noise]\ntop1 = "binomial:n_test"\n', encoding="utf-8")
    drifted = FEWSHOT.copy()
    drifted.loc[0, "top1"] += 1e-6
    drifted.to_csv(folder / "fewshot.csv", index=False)
    auto = check.compare("smoke", results)
    assert auto.mode == check.STATISTICAL and "differ from the reference in their bits" in auto.reason
    assert check.passed(auto)
    assert not check.passed(check.compare("smoke", results, mode="exact"))


def test_binomial_and_bootstrap_bands_are_derived_from_the_row():
    spec = check.load_tolerances.__globals__["TableSpec"](
        n="n", noise={"acc": check.rules.parse_rule("binomial", "t"),
                      "miou": check.rules.parse_rule("bootstrap:lo:hi", "t")}, z=1.0)
    row = {"acc": "0.5", "n": "96", "miou": "0.4", "lo": "0.3", "hi": "0.5"}
    acc = check.rules.noise_band(spec, "acc", row)
    assert acc.n == 96 and acc.allowed == pytest.approx(math.sqrt(0.25 / 100))
    assert check.rules.noise_band(spec, "miou", row).allowed == pytest.approx(0.2 / (2 * 1.959963984540054))
    # a proportion of 1 still has a band of about one photo (Agresti-Coull)
    assert 0 < check.rules.noise_band(spec, "acc", {**row, "acc": "1"}).allowed < 0.03


def test_a_reference_of_another_profile_and_results_without_tables_are_one_line_errors(smoke, tmp_path, capsys):
    reference, results, _ = smoke
    (reference / "machine.json").write_text(json.dumps({"profile": "paper", "notebooks": {}}), encoding="utf-8")
    assert main(["check", "--profile", "smoke", "--results", str(results)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(reference / "machine.json") in err and "not a smoke reference" in err
    (reference / "machine.json").unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["check", "--profile", "smoke", "--results", str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no smoke tables here" in err and str(empty) in err


def _plant(folder, table: str, edit, mode: str) -> None:
    df = check.read_table(folder / f"{table}.csv")
    edit(df, mode)
    df.to_csv(folder / f"{table}.csv", index=False)


def _lower(df, column: str, row_mask, by: float) -> None:
    df.loc[row_mask, column] = (df.loc[row_mask, column].astype(float) - by).astype(str)


PLANTED = {
    # within sampling noise a few-shot accuracy on the smoke release's 480 test photos has a 95 % band of
    # at most 0.045 (smoke.toml [data] explains the size, tolerances.toml why z = 1.96)
    "pretrained few-shot top-1 - 0.05": ("fewshot", lambda df, mode: _lower(
        df, "top1", (df["pretrained"] == "True") & (df["resolution"] == "96"), 0.05)),
    # the best of the rows on every photo that are checked on any machine: minerals segment's default
    "best segmentation mIoU - 0.10": ("segmentation", lambda df, mode: _lower(
        df, "miou", (df["backbone"] == DEFAULT_BACKBONE) & (df["method"] == DEFAULT_METHOD)
        & (df["threshold"] == DEFAULT_THRESHOLD), 0.10)),
    "one species name changed": ("zeroshot_class_recall", lambda df, mode: df.__setitem__(
        "class", df["class"].where(df.index != 0, "Unobtainium"))),
    "a row missing": ("size", lambda df, mode: df.drop(index=0, inplace=True)),
}


@pytest.mark.parametrize("mode", ["exact", "statistical"])
@pytest.mark.parametrize("defect", sorted(PLANTED))
def test_planted_defects_in_the_committed_reference_fail_in_both_modes(tmp_path, mode, defect):
    """The committed smoke reference, copied as our results, passes; one planted defect makes it fail."""
    folder = tmp_path / "smoke" / "tables"
    folder.mkdir(parents=True)
    for path in check.reference_dir().glob("*.csv"):
        (folder / path.name).write_bytes(path.read_bytes())
    assert check.passed(check.compare("smoke", tmp_path, mode=mode))
    table, edit = PLANTED[defect]
    _plant(folder, table, edit, mode)
    claims = check.compare("smoke", tmp_path, mode=mode)
    assert not check.passed(claims), f"{defect} went unnoticed in {mode} mode"
    assert {c.table for c in claims if c.status in (check.FAIL, check.MISSING)} == {table}


def test_retrained_rows_are_exact_on_the_class_and_informational_elsewhere():
    spec = check.TableSpec(key=("backbone", "method"), n="n", retrained_rows={"backbone": ("fewshot:*",)},
                           noise={"miou": check.rules.parse_rule("bootstrap:lo:hi", "t")})
    expected = pd.DataFrame({"backbone": ["fewshot:a", "imagenet:a"], "method": ["m", "m"], "miou": ["0.5", "0.5"],
                             "lo": ["0.4", "0.4"], "hi": ["0.6", "0.6"], "n": ["16", "16"]})
    ours = expected.copy()
    ours.loc[:, "miou"] = "0.9"  # far outside the band on both rows
    stat = {c.key: c.status for c in check.compare_tables("t", expected, ours, spec, mode=check.STATISTICAL)
            if c.metric == "miou"}
    assert stat == {"backbone=fewshot:a, method=m": check.INFO, "backbone=imagenet:a, method=m": check.FAIL}
    exact = [c.status for c in check.compare_tables("t", expected, ours, spec, mode=check.EXACT) if c.metric == "miou"]
    assert exact == [check.FAIL, check.FAIL]
    renamed = ours.assign(method=["m2", "m"], miou=["0.5", "0.5"])  # an arg-max picked another row
    claims = check.compare_tables("t", expected, renamed, spec, mode=check.STATISTICAL)
    assert check.passed(claims) and not check.passed(check.compare_tables("t", expected, renamed, spec))
