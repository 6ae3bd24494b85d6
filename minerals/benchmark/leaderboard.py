"""The leaderboard: result records (ours and `submissions/`) per task and split, with paired tests.

Each entry is compared with the best baseline of its task and split on the photos both scored:
a paired bootstrap of the difference of the headline metric, and for top-1 McNemar's exact test
(a two-sided binomial test on the discordant photos, scipy).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from minerals.benchmark.formats import SubmissionError

# Headline metric per task, whether larger is better, and the per-photo values it is the mean of.
HEADLINE = {"classification": ("top1", True), "zeroshot": ("top1", True), "size": ("mae_cm", False),
            "segmentation": ("miou", True)}


# What a result record must hold (`minerals evaluate` writes it; submissions/README.md documents it).
RECORD_KEYS = ("task", "protocol", "metrics", "split_sha256", "n", "method", "per_item")
PER_ITEM = {"classification": "rank", "zeroshot": "rank", "size": "abs_err_cm", "segmentation": "iou"}


def load_records(folder: str | os.PathLike, submissions: bool = False) -> list[dict]:
    """Every `*.json` result record under `folder` (recursively), sorted by path, each with its `file`.

    Raises SubmissionError (one line naming the file) for a file that is not a valid record; with
    `submissions`, also when the method's name or one-line description is missing (`check_record`).
    """
    return [check_record(read_record(path), path, submissions) for path in sorted(Path(folder).rglob("*.json"))]


def read_record(path: Path) -> dict:
    """The JSON object of a record file; SubmissionError naming the file when it is not one."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(f"{path}: not a readable JSON result record ({exc})") from exc
    if not isinstance(record, dict):
        raise SubmissionError(f"{path}: a result record is a JSON object, got {type(record).__name__}")
    return record


def check_record(record: dict, path: str | os.PathLike, submission: bool = False) -> dict:
    """`record` with `file` added, once it has every field of a result record, a known task, per-photo
    outcomes for all `n` photos whose mean is the headline metric, and (`submission`) a method name,
    a one-line description and an http(s) link or none. Raises SubmissionError naming `path`."""
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise SubmissionError(f"{path}: not a result record, no {', '.join(missing)}; write it with "
                              "`minerals evaluate`")
    odd = [k for k in ("protocol", "metrics", "method", "per_item") if not isinstance(record[k], dict)]
    if odd:
        raise SubmissionError(f"{path}: {', '.join(odd)} must be JSON object(s)")
    task = record["task"]
    if task not in HEADLINE:
        raise SubmissionError(f"{path}: unknown task {task!r}; one of {', '.join(HEADLINE)}")
    metric, _ = HEADLINE[task]
    items, column = record["per_item"], PER_ITEM[task]
    if not isinstance(items.get("id"), list) or not isinstance(items.get(column), list):
        raise SubmissionError(f"{path}: per_item needs lists id and {column} (one per photo)")
    if not len(items["id"]) == len(items[column]) == record["n"]:
        raise SubmissionError(f"{path}: per_item has {len(items['id'])} ids and {len(items[column])} {column} values "
                              f"for n = {record['n']} photos")
    if metric not in record["metrics"]:
        raise SubmissionError(f"{path}: metrics has no {metric}, the headline metric of {task}")
    try:
        recomputed = float(per_photo(record).mean())
        agrees = bool(np.isclose(recomputed, float(record["metrics"][metric]), rtol=0, atol=1e-9, equal_nan=True))
    except (TypeError, ValueError) as exc:
        raise SubmissionError(f"{path}: per_item.{column} or metrics.{metric} is not numeric ({exc})") from exc
    if not agrees:
        raise SubmissionError(f"{path}: metrics.{metric} = {record['metrics'][metric]} but its per_item outcomes give "
                              f"{recomputed}; rescore the predictions with `minerals evaluate`")
    method = record["method"]
    if submission:
        name, description = str(method.get("name", "")).strip(), str(method.get("description", "")).strip()
        link = str(method.get("link", "")).strip()
        if not name or not description or "\n" in description:
            raise SubmissionError(f"{path}: a submission needs method.name and a one-line method.description "
                                  "(`minerals evaluate ... --method NAME --description TEXT`)")
        if link and not link.startswith(("https://", "http://")):
            raise SubmissionError(f"{path}: method.link {link!r} is not an http(s) address")
    return {**record, "file": str(path)}


def per_photo(record: dict) -> pd.Series:
    """The headline metric's per-photo values by id (top-1 hit, absolute error in cm (NaN = abstained), IoU)."""
    items = record["per_item"]
    task = record["task"]
    if task in ("classification", "zeroshot"):
        values = [float(r == 1) for r in items["rank"]]
    elif task == "size":
        values = [np.nan if e is None else float(e) for e in items["abs_err_cm"]]
    else:
        values = [float(v) for v in items["iou"]]
    return pd.Series(values, index=[str(i) for i in items["id"]])


def paired_test(entry: dict, baseline: dict, n_boot: int = 1000, seed: int = 0) -> dict:
    """Difference of the headline metric (entry - baseline) on the common photos, its paired-bootstrap 95 %
    interval and two-sided p-value, and McNemar's exact p-value for top-1."""
    a, b = per_photo(entry), per_photo(baseline)
    common = a.index.intersection(b.index)
    pair = pd.DataFrame({"a": a[common], "b": b[common]}).dropna()
    diff = (pair["a"] - pair["b"]).to_numpy()
    out = {"n_paired": int(len(diff)), "diff": float(diff.mean()) if len(diff) else float("nan")}
    rng = np.random.default_rng(seed)
    boots = np.array([diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(n_boot)]) if len(diff) \
        else np.full(1, np.nan)
    out["diff_low"], out["diff_high"] = (float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975)))
    out["p_bootstrap"] = float(min(1.0, 2 * min((boots <= 0).mean(), (boots >= 0).mean())))
    if entry["task"] in ("classification", "zeroshot"):
        wins, losses = int(((pair["a"] == 1) & (pair["b"] == 0)).sum()), int(((pair["a"] == 0) & (pair["b"] == 1)).sum())
        out["p_mcnemar"] = float(binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0
    return out


def table(baselines: list[dict], submissions: list[dict], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per record: task, subset/split, method, headline metric with CI, and the paired test
    (`n_boot` paired-bootstrap resamples, `seed`) against the best baseline of the same task and split hash."""
    rows = []
    for kind, records in (("baseline", baselines), ("submission", submissions)):
        for r in records:
            metric, _ = HEADLINE[r["task"]]
            m = r["metrics"]
            low = m.get(f"{metric}_ci_low", m.get(f"{metric}_low"))
            high = m.get(f"{metric}_ci_high", m.get(f"{metric}_high"))
            rows.append({"task": r["task"], "subset": r["protocol"].get("subset", ""),
                         "split": r["protocol"].get("split", ""), "split_sha256": r["split_sha256"][:16],
                         "kind": kind, "method": r["method"].get("name", r["predictions"]),
                         "link": r["method"].get("link", ""), "description": r["method"].get("description", ""),
                         "metric": metric, "value": m[metric], "low": low, "high": high, "n": r["n"], "_r": r})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    tests = []
    for _, group in df.groupby(["task", "split_sha256"], sort=False):
        metric, larger = HEADLINE[group["task"].iloc[0]]
        base = group[group["kind"] == "baseline"]
        best = None if base.empty else base.loc[base["value"].idxmax() if larger else base["value"].idxmin()]
        for idx, row in group.iterrows():
            result = {} if best is None or idx == best.name else paired_test(row["_r"], best["_r"], n_boot, seed)
            tests.append((idx, {"vs": "" if best is None or idx == best.name else best["method"], **result}))
    extra = pd.DataFrame({i: t for i, t in tests}).T
    return df.drop(columns="_r").join(extra)
