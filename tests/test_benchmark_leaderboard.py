"""Bring-your-own-model scoring with the two trivial baselines, and the leaderboard's paired tests."""

from __future__ import annotations

import pandas as pd

from minerals.benchmark import byom, leaderboard, splits
from minerals.results import write_json


def test_baselines_score_a_callable_and_an_oracle_beats_them(tiny_release, tmp_path):
    frequent = byom.score_callable(byom.most_frequent(tiny_release, 10), tiny_release, 10, out=tmp_path / "mf.csv",
                                   n_boot=100, method={"name": "most frequent"})
    colour = byom.score_callable(byom.colour_histogram_nn(tiny_release, 10), tiny_release, 10,
                                 out=tmp_path / "hist.csv", n_boot=100, method={"name": "colour histogram NN"})
    truth = dict(zip(splits.split_frame(tiny_release, "classification", 10, "test")["path"],
                     splits.split_frame(tiny_release, "classification", 10, "test")["en_name"]))
    root = str(tiny_release.root) + "/"
    oracle = byom.score_callable(lambda paths: [[truth[p[len(root):]]] * 10 for p in paths], tiny_release, 10,
                                 out=tmp_path / "oracle.csv", n_boot=100, method={"name": "oracle"})
    assert oracle["metrics"]["top1"] == 1.0
    assert frequent["metrics"]["top10"] == 1.0 and frequent["metrics"]["top1"] < 0.5
    assert 0.0 <= colour["metrics"]["top1"] <= 1.0 and colour["split_sha256"] == frequent["split_sha256"]
    for name, record in (("mf", frequent), ("hist", colour)):
        write_json(tmp_path / "baselines" / f"{name}.json", record)
    write_json(tmp_path / "submissions" / "oracle.json", oracle)
    board = leaderboard.table(leaderboard.load_records(tmp_path / "baselines"),
                              leaderboard.load_records(tmp_path / "submissions"))
    row = board[board["method"] == "oracle"].iloc[0]
    best = board[board["kind"] == "baseline"].sort_values("value").iloc[-1]
    assert row["vs"] == best["method"] and row["diff"] == 1.0 - best["value"]
    assert row["n_paired"] == oracle["n"] and 0 <= row["p_mcnemar"] <= 1 and row["diff_low"] <= row["diff"]


def test_paired_test_of_a_record_with_itself_finds_no_difference(tiny_release, tmp_path):
    record = byom.score_callable(byom.most_frequent(tiny_release, 10), tiny_release, 10, out=tmp_path / "m.csv",
                                 n_boot=50)
    test = leaderboard.paired_test(record, record)
    assert test["diff"] == 0.0 and test["p_mcnemar"] == 1.0 and test["p_bootstrap"] == 1.0
    assert isinstance(leaderboard.per_photo(record), pd.Series)
