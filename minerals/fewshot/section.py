"""Few-shot classification (the paper's Table 3): fine-tune a classifier on an n-class subset, evaluate top-k.

`run(session, grid)` is the section: every runnable configuration of a `FewShotGrid` trained (or
resumed, or reused) and evaluated on the test split, returning the tables `fewshot`, `fewshot_plan`
and `fewshot_history`. One configuration = one `FewShotConfig` (`run_config`: one row of `fewshot`).
Training and evaluation are separate run records under `runs/fewshot/`; checkpoints, logs and
per-image predictions live in `artifacts/fewshot/<train-key-hash>/`.

Other sections reuse a fine-tuned model with `trained_model(session)`, or `load_checkpoint(path)`.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import pandas as pd
from torch import nn

from minerals.models import distributed
from minerals.data.fingerprint import frame_fingerprint
from minerals.fewshot.config import FewShotConfig, FewShotGrid, plan
from minerals.fewshot.evaluate import KS, evaluate
from minerals.fewshot.train import BEST, CheckpointError, decode_side, load_checkpoint, train
from minerals.results import Shard, key_hash, run_cells
from minerals.runtime import torch_threads

SECTION = "fewshot"
TABLE_COLUMNS = ("subset", "model", "pretrained", "resolution", "epochs", "top1", "top3", "top5", "top10",
                 "balanced_acc", "top1_ci_low", "top1_ci_high", "n_classes", "n_train", "n_val", "n_test",
                 "best_epoch", "best_val_top1", "train_images_per_s", "wall_s", "device", "seed", "notes")

__all__ = ["FewShotConfig", "FewShotGrid", "CheckpointError", "load_checkpoint", "plan", "run", "run_config",
           "trained_model", "table", "train_run", "eval_run", "eval_key", "export_predictions", "run_grid",
           "checkpoint_path", "evaluate_checkpoint", "runnable"]


def runnable(configs: list[FewShotConfig], release) -> tuple[list[FewShotConfig], list[int]]:
    """The configs whose subset the release has (a `minerals_<n>.csv`), and the subsets it lacks."""
    have = set(release.available_subsets())
    missing = sorted({c.subset for c in configs} - have)
    return [c for c in configs if c.subset in have], missing


def data_key(release, subset: int) -> str:
    """What a run learns from: the subset's photos with their labels and splits (`minerals.data.fingerprint`).

    Regenerated or edited data gives a new key (so stored runs are not reused); a copy of the same
    release on another machine or in another folder gives the same one.
    """
    return frame_fingerprint(release, release.subset(subset), ("label", "split"))


def _train_key(session, cfg: FewShotConfig) -> dict:
    return {"stage": "train", "config": asdict(cfg), "data": data_key(session.release, cfg.subset)}


def _datasets(session, cfg: FewShotConfig, *splits: str):
    from minerals.data import ClassificationDataset

    return [ClassificationDataset(session.release, cfg.subset, split, max_side=decode_side(cfg.resolution))
            for split in splits]


def checkpoint_path(session, cfg: FewShotConfig) -> Path:
    """Where the best checkpoint of `cfg` is (or will be) written."""
    return session.artifacts(SECTION) / key_hash(_train_key(session, cfg)) / BEST


def train_run(session, cfg: FewShotConfig, echo: bool = True) -> dict:
    """Train `cfg` once (resuming an interrupted run); the stored summary when it already finished.

    The summary's `checkpoint` is relative to `session.root`. A record whose checkpoint has been
    deleted is recomputed. Under torchrun (`minerals.models.distributed`) every rank calls this; the ranks
    train together and only rank 0 writes the record.
    """
    key = _train_key(session, cfg)
    store = session.store(SECTION)
    run_dir = checkpoint_path(session, cfg).parent
    record = store.get(key)
    force = record is not None and not (session.root / record["metrics"]["checkpoint"]).is_file()

    def compute() -> dict:
        start = time.perf_counter()
        train_set, val_set = _datasets(session, cfg, "train", "val")
        with torch_threads(session.profile.section(SECTION).get("threads", 0)):
            data = {"synthetic": bool(session.release.report.get("synthetic")), "root": session.data_root.name}
            summary = train(cfg, train_set, val_set, train_set.classes, run_dir, session.device, echo=echo, data=data)
        summary["checkpoint"] = str((run_dir / BEST).relative_to(session.root))
        return {**summary, "device": session.device, "train_wall_s": round(time.perf_counter() - start, 3)}

    if distributed.active():  # under torchrun every rank trains, rank 0 decides and keeps the record
        record, force = distributed.broadcast((record, force))
        if record is not None and not force:
            return record["metrics"]
        return store.run(key, compute, force=True) if distributed.is_main() else compute()
    return store.run(key, compute, force=force)


def eval_key(session, cfg: FewShotConfig, split: str = "test") -> dict:
    """The run key of `cfg`'s evaluation on `split`: its record marks a grid cell finished."""
    n_boot = int(session.profile.section(SECTION).get("n_boot", 1000))
    return {"stage": "eval", "train": key_hash(_train_key(session, cfg)), "split": split, "n_boot": n_boot,
            "ks": list(KS)}


def eval_run(session, cfg: FewShotConfig, split: str = "test", echo: bool = True) -> dict:
    """Evaluate the trained `cfg` on `split` (training it first if needed); stored metrics on a rerun."""
    trained = train_run(session, cfg, echo=echo)
    section = session.profile.section(SECTION)
    n_boot = int(section.get("n_boot", 1000))
    key = eval_key(session, cfg, split)

    def compute() -> dict:
        model, info = load_checkpoint(session.root / trained["checkpoint"], session.device)
        (dataset,) = _datasets(session, cfg, split)
        out_dir = session.root / Path(trained["checkpoint"]).parent / split
        with torch_threads(section.get("threads", 0)):
            result = evaluate(model, info, dataset, out_dir, session.device,
                              batch_size=int(section.get("eval_batch_size", 64)), num_workers=cfg.num_workers,
                              n_boot=n_boot, seed=cfg.seed)
        for name in ("predictions", "confusion"):
            result[name] = str(Path(result[name]).relative_to(session.root))
        return result

    return session.store(SECTION).run(key, compute)


def evaluate_checkpoint(session, path, split: str = "test", out_dir=None) -> dict:
    """Evaluate a checkpoint file on `split` of its subset in the session's release (no run record).

    Files go to `out_dir` (default: `<checkpoint folder>/<split>`).
    """
    model, info = load_checkpoint(path, session.device)
    (dataset,) = _datasets(session, FewShotConfig(subset=int(info["subset"]), resolution=int(info["resolution"])),
                           split)
    if list(dataset.classes) != list(info["classes"]):
        raise CheckpointError(f"{path}: trained on classes {info['classes'][:3]}... but the {info['subset']}-class "
                              f"subset of {session.data_root} has {dataset.classes[:3]}...; evaluate it on the "
                              "release it was trained on")
    out = Path(out_dir) if out_dir else Path(info["checkpoint"]).parent / split
    return evaluate(model, info, dataset, out, session.device, seed=session.seed)


def run_config(session, cfg: FewShotConfig, echo: bool = True) -> dict:
    """Train and evaluate one configuration on the test split: one row of table `fewshot` (plus files)."""
    trained = train_run(session, cfg, echo=echo)
    tested = eval_run(session, cfg, echo=echo)
    if distributed.is_main():
        export_predictions(session, cfg, session.root / tested["predictions"])
    row = {**asdict(cfg), **trained, **tested}
    row["wall_s"] = round(trained["train_wall_s"] + tested["eval_s"], 3)
    row["notes"] = "; ".join(tested["notes"])
    return row


def run(session, grid: FewShotGrid) -> dict[str, pd.DataFrame]:
    """The section: tables `fewshot` (one row per runnable run of `grid`, `table`), `fewshot_plan` (what the
    `paper` profile's grid costs, `plan.plan_table`, scaled from the first run's measured throughput) and
    `fewshot_history` (one row per run and epoch: the run's `subset, model, pretrained, resolution` and
    its validation metrics). Runs whose subset the release lacks are left out (`runnable`).

    Raises ValueError naming the subsets when the release has none of them.
    """
    from minerals.fewshot.plan import plan_table
    from minerals.profiles import load_profile

    configs, missing = runnable(list(grid.runs), session.release)
    if not configs:
        raise ValueError(f"{session.data_root}: no minerals_<n>.csv for any subset of the grid "
                         f"({', '.join(map(str, missing))})")
    rows = [run_config(session, cfg, echo=False) for cfg in configs]  # epoch logs go to each run's train.jsonl
    ident = ("subset", "model", "pretrained", "resolution")
    history = pd.DataFrame([{**{k: row[k] for k in ident}, **epoch} for row in rows for epoch in row["history"]])
    paper = plan(load_profile("paper").section(SECTION), session.seed)
    return {"fewshot": table(rows), "fewshot_plan": plan_table(paper, rows[0]), "fewshot_history": history}


def export_predictions(session, cfg: FewShotConfig, predictions_csv: Path) -> Path:
    """The test predictions of `cfg` as a benchmark submission: `predictions/fewshot/<run>.csv`."""
    from minerals.benchmark.export import fewshot_ranked, predictions_dir

    name = (f"{cfg.subset}-{cfg.model}-{'pretrained' if cfg.pretrained else 'scratch'}-{cfg.resolution}px-"
            f"{key_hash(eval_key(session, cfg))[:8]}.csv")
    return fewshot_ranked(predictions_csv, predictions_dir(session.root, SECTION) / name)


def run_grid(session, configs: list[FewShotConfig] | None = None, shard: Shard | None = None,
             echo: bool = False) -> Iterator[tuple[FewShotConfig, dict, str]]:
    """This worker's share of the grid (default: the profile's runnable `plan`), each cell run once
    across every worker sharing `session.root` (`minerals.results.run_cells`).

    Yields `(config, run_config() row, how)` as cells finish; `how` is `reused`, `ran` or `by another worker`.
    """
    if configs is None:
        configs, _ = runnable(plan(session.profile.section(SECTION), session.seed), session.release)
    store = session.store(SECTION)
    for i, row, how in run_cells(store, configs, lambda cfg: eval_key(session, cfg),
                                 lambda cfg: run_config(session, cfg, echo=echo), shard):
        yield configs[i], row, how


def table(rows: list[dict]) -> pd.DataFrame:
    """Table `fewshot` from `run_config()` rows: the stable columns first, then the other scalar fields
    (the per-epoch history and per-class recall stay in the run records)."""
    df = pd.DataFrame(rows)
    scalar = [c for c in df.columns if df[c].map(lambda v: not isinstance(v, (dict, list))).all()]
    extra = [c for c in scalar if c not in TABLE_COLUMNS]
    return df[[c for c in TABLE_COLUMNS if c in df.columns] + extra]


def trained_model(session, subset: int = 10, model: str = "tf_efficientnet_lite0", pretrained: bool = True,
                  resolution: int | None = None) -> tuple[nn.Module, dict]:
    """A fine-tuned classifier for other sections: `(model in eval mode on session.device, info)`.

    Trains on a cache miss (same run records and checkpoints as the few-shot notebook), loads
    otherwise. Settings not given come from the profile's [fewshot] table. `info` holds `classes`
    (English names in label order), `resolution`, `mean`, `std`, `checkpoint` and the architecture.
    """
    section = session.profile.section(SECTION)
    cfg = FewShotConfig.from_section(section, subset=subset, model=model, pretrained=pretrained,
                                     resolution=resolution, seed=session.seed)
    trained = train_run(session, cfg, echo=False)
    return load_checkpoint(session.root / trained["checkpoint"], session.device)
