"""The benchmark page (notebook 07, `minerals check`): every table of "Enter the benchmark" from one call.

`run(session, cfg)` scores the two trivial bring-your-own-model baselines (`byom`) on each subset's
split, re-scores every prediction file the sections exported (`results/<profile>/predictions/`) and
puts the result records of `submissions/` beside them (`leaderboard.table`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from minerals.benchmark import byom, export, leaderboard
from minerals.benchmark.scoring import evaluate
from minerals.profiles import ProfileError, section_values
from minerals.results import write_json

SECTION = "benchmark"
# The checkout's root: `submissions/` lives beside the package.
CHECKOUT = Path(__file__).resolve().parents[2]
BASELINES = {
    "most_frequent": ("most frequent species", byom.most_frequent,
                      "trivial: always the train split's species by decreasing photo count"),
    "colour_histogram_nn": ("colour-histogram NN", byom.colour_histogram_nn,
                            "trivial: species of the nearest train photos by RGB histogram (chi-squared distance)"),
}
BYOM_COLUMNS = ["subset", "split", "method", "n", "n_classes", "top1", "top1_ci_low", "top1_ci_high", "top3", "top5",
                "top10", "balanced_acc", "balanced_acc_ci_low", "balanced_acc_ci_high", "split_sha256", "s_per_image"]
EXPORT_LABELS = {"fewshot": "few-shot", "zeroshot": "zero-shot", "size": "size", "segmentation": "CAM"}
TASK_ORDER = {"classification": 0, "zeroshot": 1, "size": 2, "segmentation": 3}


@dataclass(frozen=True)
class BenchmarkConfig:
    """The profile's `[benchmark]` table: the subsets and split the trivial baselines are scored on,
    the submissions folder (relative: to the checkout, else to the working directory) and the
    paired-bootstrap resamples of the leaderboard's tests."""

    subsets: tuple = (10,)
    split: str = "test"
    submissions: str = "submissions"
    n_boot: int = 1000

    def __post_init__(self):
        if not self.subsets or self.split not in ("train", "val", "test"):
            raise ProfileError(f"[{SECTION}] needs subsets (class counts, e.g. [10]) and a split of train, val or "
                               f"test; got subsets = {list(self.subsets)}, split = {self.split!r}")

    @classmethod
    def from_section(cls, section: dict, **overrides) -> "BenchmarkConfig":
        return cls(**section_values(cls, section, SECTION, overrides))


def evaluate_options(profile, task: str) -> dict:
    """`evaluate` keyword arguments of a task under `profile`: the bootstrap resamples of the section that
    owns it, and for segmentation the `[segmentation]` protocol (`max_images`, `max_side`)."""
    if task in ("classification", "zeroshot"):
        return {"n_boot": int(profile.section("fewshot").get("n_boot", 1000))}
    if task == "size":
        return {"n_boot": int(profile.section("size").get("n_boot", 1000))}
    seg = profile.section("segmentation")
    return {"n_boot": int(seg.get("n_boot", 1000)), "max_images": int(seg.get("max_images", 0)),
            "max_side": int(seg.get("max_side", 512))}


def submissions_dir(folder: str | os.PathLike) -> Path:
    """The submissions folder: `folder` if absolute, else under the checkout, else under the working directory."""
    folder = Path(folder).expanduser()
    if folder.is_absolute():
        return folder
    inside = CHECKOUT / folder
    return inside if inside.is_dir() else Path.cwd() / folder


def trivial_baselines(session, cfg: BenchmarkConfig) -> tuple[pd.DataFrame, list[dict]]:
    """`(benchmark_byom table, records)`: each `BASELINES` callable scored with `byom.score_callable` on
    every subset's `cfg.split`; records go to `evaluations/benchmark/`, predictions to the artifacts."""
    rows, records = [], []
    options = evaluate_options(session.profile, "classification")
    for subset in cfg.subsets:
        for key, (name, make, description) in BASELINES.items():
            start = time.perf_counter()
            predict = make(session.release, subset, seed=session.seed)
            out = session.artifacts(SECTION) / f"{subset}-{cfg.split}-{key}.csv"
            record = byom.score_callable(predict, session.release, subset, cfg.split, out, seed=session.seed,
                                         method={"name": name, "link": "", "description": description}, **options)
            wall = time.perf_counter() - start
            write_json(session.root / "evaluations" / SECTION / out.with_suffix(".json").name, record)
            records.append(record)
            m = record["metrics"]
            rows.append({"subset": str(subset), "split": cfg.split, "method": name, "n": record["n"],
                         **{c: m[c] for c in BYOM_COLUMNS if c in m}, "split_sha256": record["split_sha256"][:16],
                         "s_per_image": round(wall / max(record["n"], 1), 5)})
    return pd.DataFrame(rows, columns=BYOM_COLUMNS), records


def section_baselines(session) -> list[dict]:
    """Result records of every prediction file the sections exported under `results/<profile>/predictions/`."""
    records = []
    for section, task, protocol, path in export.find_exports(session.root):
        run = path.stem.split("-", 1)[1] if "subset" in protocol else path.stem  # the subset is in the table
        method = {"name": f"{EXPORT_LABELS[section]}: {run}", "link": "",
                  "description": f"the {section} page's export predictions/{section}/{path.name}"}
        records.append(evaluate(task, path, session.release, split="test", seed=session.seed, method=method,
                                **protocol, **evaluate_options(session.profile, task)))
    return records


def ordered(board: pd.DataFrame) -> pd.DataFrame:
    """Rows by task, subset and split, best headline value first within each; a 1-based `rank` added."""
    if board.empty:
        return board.assign(rank=pd.Series(dtype=int))
    larger = board["task"].map(lambda t: leaderboard.HEADLINE[t][1])
    score = np.where(larger, -board["value"].astype(float), board["value"].astype(float))
    board = board.assign(_t=board["task"].map(TASK_ORDER), _s=score)
    board = board.sort_values(["_t", "subset", "split", "_s", "method"], na_position="last", kind="stable")
    board = board.drop(columns=["_t", "_s"]).reset_index(drop=True)
    rank = board.groupby(["task", "subset", "split", "split_sha256"], sort=False).cumcount() + 1
    return board.assign(rank=rank.to_numpy())


def run(session, cfg: BenchmarkConfig) -> dict[str, pd.DataFrame]:
    """Tables `benchmark_byom` (the trivial baselines, every top-k with its 95 % interval) and
    `benchmark_leaderboard` (our baselines and the submissions scored on this build's splits, with the
    paired test against the best baseline), and `elsewhere` (submissions on other data, e.g. the real
    release in a smoke build: listed with their own numbers, no test). Raises SubmissionError naming
    a malformed file of the submissions folder."""
    byom_table, trivial = trivial_baselines(session, cfg)
    baselines = trivial + section_baselines(session)
    folder = submissions_dir(cfg.submissions)
    submitted = leaderboard.load_records(folder, submissions=True) if folder.is_dir() else []
    board = leaderboard.table(baselines, submitted, cfg.n_boot, session.seed)
    here = board.groupby(["task", "split_sha256"])["kind"].transform(lambda k: (k == "baseline").any())
    return {"benchmark_byom": byom_table, "benchmark_leaderboard": ordered(board[here]),
            "elsewhere": ordered(board[~here])}
