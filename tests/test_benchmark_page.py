"""The "Enter the benchmark" page: its tables come from `minerals.benchmark.section.run`, and a malformed
submission record is refused in one line naming the file."""

from __future__ import annotations

import json

import jupytext
import matplotlib
import pandas as pd
import pytest

from minerals.benchmark import SubmissionError, byom, export, leaderboard, section, splits
from minerals.pipeline.registry import notebook_registry
from minerals.pipeline.reproduce import notebooks_dir
from minerals.pipeline.session import Session, small_text
from minerals.profiles import load_profile
from minerals.results import write_json

matplotlib.use("Agg")


@pytest.fixture
def session(tiny_release_root, tmp_path):
    return Session(notebook="07_benchmark", profile=load_profile("smoke"), data_root=tiny_release_root, device="cpu",
                   seed=0, results_dir=tmp_path / "results")


def _oracle(release):
    """A callable that ranks the true species first: top-1 = 1."""
    frame = splits.split_frame(release, "classification", 10, "test")
    truth = {str(release.root / p): name for p, name in zip(frame["path"], frame["en_name"])}
    names = sorted(set(frame["en_name"]))
    return lambda paths: [[truth[p]] + [n for n in names if n != truth[p]] for p in paths]


def _submission(release, tmp_path, name="oracle", **method):
    method = {"name": name, "link": "https://example.org/oracle", "description": "the truth, ranked first", **method}
    return byom.score_callable(_oracle(release), release, 10, out=tmp_path / f"{name}.csv", n_boot=50, method=method)


def test_the_pages_tables_come_from_the_library(session, tmp_path):
    release = session.release
    # a section export (the few-shot page's file name pattern) and two submissions: this build's split, other data
    frame = splits.split_frame(release, "classification", 10, "test")
    paths = [str(release.root / p) for p in frame["path"]]
    export.write_ranked(export.predictions_dir(session.root, "fewshot") / "10-net-pretrained-96px-0123abcd.csv",
                        frame["id"], _oracle(release)(paths))
    subs = tmp_path / "submissions"
    write_json(subs / "oracle.json", _submission(release, tmp_path))
    other = {**_submission(release, tmp_path, "other data"), "split_sha256": "f" * 64}
    write_json(subs / "real" / "elsewhere.json", other)
    cfg = section.BenchmarkConfig(subsets=(10,), submissions=str(subs), n_boot=50)

    tables = section.run(session, cfg)

    assert set(notebook_registry()["07_benchmark"]["tables"]) <= set(tables)
    byom_table, board = tables["benchmark_byom"], tables["benchmark_leaderboard"]
    assert byom_table["method"].tolist() == [name for name, _, _ in section.BASELINES.values()]
    direct = byom.score_callable(byom.most_frequent(release, 10), release, 10, out=tmp_path / "mf.csv")
    assert byom_table["top1"].iloc[0] == direct["metrics"]["top1"]
    assert (session.root / "evaluations" / "benchmark" / "10-test-most_frequent.json").is_file()
    classification = board[board["task"] == "classification"]
    assert set(classification["method"]) == {"most frequent species", "colour-histogram NN",
                                             "few-shot: net-pretrained-96px-0123abcd", "oracle"}
    assert classification["rank"].tolist() == list(range(1, 5))
    oracle = classification[classification["method"] == "oracle"].iloc[0]
    best = classification[classification["kind"] == "baseline"].iloc[0]
    assert best["method"] == "few-shot: net-pretrained-96px-0123abcd" and best["value"] == 1.0  # the export is exact
    assert oracle["kind"] == "submission" and oracle["vs"] == best["method"] and oracle["diff"] == 0.0
    assert tables["elsewhere"]["method"].tolist() == ["other data"]
    fig = section_figure(board)
    assert small_text(fig) == [] and len(fig.axes) == board.groupby(["task", "subset", "split"]).ngroups

    source = jupytext.read(notebooks_dir() / "07_benchmark.py")
    code = "\n".join(c.source for c in source.cells if c.cell_type == "code")
    assert "section.run(s, cfg)" in code
    for table_id in notebook_registry()["07_benchmark"]["tables"]:
        assert f's.save_table("{table_id}", ' in code


def section_figure(board):
    from minerals.benchmark.figure import leaderboard_figure
    from minerals.pipeline.session import BOOK_STYLE

    with matplotlib.rc_context(BOOK_STYLE):
        return leaderboard_figure(board)


def _break(record: dict, how: str):
    if how == "not json":
        return "{ this is not json"
    if how == "a list":
        return json.dumps([record])
    if how == "no per_item":
        return json.dumps({k: v for k, v in record.items() if k != "per_item"})
    if how == "edited top1":
        return json.dumps({**record, "metrics": {**record["metrics"], "top1": 0.5}})
    if how == "no description":
        return json.dumps({**record, "method": {**record["method"], "description": ""}})
    if how == "bad link":
        return json.dumps({**record, "method": {**record["method"], "link": "ftp://x"}})
    if how == "short per_item":
        return json.dumps({**record, "per_item": {"id": record["per_item"]["id"][:-1],
                                                  "rank": record["per_item"]["rank"][:-1]}})
    return json.dumps({**record, "task": "detection"})


@pytest.mark.parametrize("how", ["not json", "a list", "no per_item", "edited top1", "no description", "bad link",
                                 "short per_item", "unknown task"])
def test_a_malformed_submission_is_refused_in_one_line_naming_the_file(tiny_release, tmp_path, how):
    record = _submission(tiny_release, tmp_path)
    folder = tmp_path / "submissions"
    write_json(folder / "good.json", record)
    bad = folder / "zz-bad.json"
    bad.write_text(_break(record, how), encoding="utf-8")
    with pytest.raises(SubmissionError) as info:
        leaderboard.load_records(folder, submissions=True)
    message = str(info.value)
    assert message.startswith(f"{bad}: ") and "\n" not in message
    assert leaderboard.check_record(record, folder / "good.json", True)["file"] == str(folder / "good.json")


def test_the_page_refuses_a_malformed_submission(session, tmp_path):
    bad = tmp_path / "submissions" / "bad.json"
    bad.parent.mkdir()
    bad.write_text("[]", encoding="utf-8")
    with pytest.raises(SubmissionError, match=f"^{bad}: a result record is a JSON object"):
        section.run(session, section.BenchmarkConfig(subsets=(10,), submissions=str(bad.parent), n_boot=20))


def test_the_committed_submissions_are_valid_records():
    folder = section.submissions_dir("submissions")
    records = leaderboard.load_records(folder, submissions=True)
    examples = [r for r in records if "/examples/" in r["file"]]
    assert examples and all(r["profile"] == "smoke" and "example" in r["method"]["name"] for r in examples)


def test_ranks_restart_per_split_and_lower_size_errors_rank_first():
    rows = pd.DataFrame({"task": ["size"] * 3, "subset": [""] * 3, "split": [""] * 3, "split_sha256": ["a", "a", "b"],
                         "kind": ["baseline", "submission", "submission"], "method": ["ours", "theirs", "other"],
                         "value": [1.0, 0.5, 2.0]})
    board = section.ordered(rows)
    assert board[["method", "rank"]].values.tolist() == [["theirs", 1], ["ours", 2], ["other", 1]]


def test_the_profiles_benchmark_tables_are_valid():
    from minerals.profiles import ProfileError

    for name in ("smoke", "paper"):
        assert section.BenchmarkConfig.from_section(load_profile(name).section("benchmark")).subsets
    with pytest.raises(ProfileError, match=r"\[benchmark\] needs subsets"):
        section.BenchmarkConfig.from_section({"subsets": []})
    with pytest.raises(ProfileError, match="unknown setting"):
        section.BenchmarkConfig.from_section({"bins": 4})


def test_section_exports_are_found_with_their_protocol(tmp_path):
    for name in ("zeroshot/full-tiny-random-bare.csv", "zeroshot/10-tiny-random-bare.csv", "size/improved.csv",
                 "segmentation/net-gradcam-otsu/a.png", "size/notes.txt"):
        (tmp_path / "predictions" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "predictions" / name).write_text("", encoding="utf-8")
    found = [(section_, task, protocol, path.name) for section_, task, protocol, path in export.find_exports(tmp_path)]
    assert found == [("zeroshot", "zeroshot", {"subset": 10}, "10-tiny-random-bare.csv"),
                     ("zeroshot", "zeroshot", {"subset": "full"}, "full-tiny-random-bare.csv"),
                     ("size", "size", {}, "improved.csv"),
                     ("segmentation", "segmentation", {}, "net-gradcam-otsu")]
    (tmp_path / "predictions" / "fewshot").mkdir()
    (tmp_path / "predictions" / "fewshot" / "best.csv").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="best.csv: an exported fewshot file is named <subset>-"):
        export.find_exports(tmp_path)
