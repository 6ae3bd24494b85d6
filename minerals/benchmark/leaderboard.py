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

# Headline metric per task, whether larger is better, and the per-photo values it is the mean of.
HEADLINE = {"classification": ("top1", True), "zeroshot": ("top1", True), "size": ("mae_cm", False),
            "segmentation": ("miou", True)}


def load_records(folder: str | os.PathLike) -> list[dict]:
    """Every `*.json` result record under `folder` (recursively), sorted by path."""
    out = []
    for path in sorted(Path(folder).rglob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if "task" in record and "per_item" in record:
            out.append({**record, "file": str(path)})
    return out


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


def table(baselines: list[dict], submissions: list[dict]) -> pd.DataFrame:
    """One row per record: task, subset/split, method, headline metric with CI, and the paired test
    against the best baseline of the same task, split and split hash."""
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
            result = {} if best is None or idx == best.name else paired_test(row["_r"], best["_r"])
            tests.append((idx, {"vs": "" if best is None or idx == best.name else best["method"], **result}))
    extra = pd.DataFrame({i: t for i, t in tests}).T
    return df.drop(columns="_r").join(extra)
