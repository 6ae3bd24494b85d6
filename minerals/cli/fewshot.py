"""`minerals fewshot train|eval|grid`: fine-tune a classifier on an n-class subset and evaluate it (Table 3)."""

from __future__ import annotations

import argparse
import json

from minerals.cli import CommandError, add_command, add_run_flags
from minerals.profiles import ProfileError

DESCRIPTION = """\
The paper's few-shot classification (Table 3): fine-tune an ImageNet classifier on the 10-, 36-, 98-
or 360-class subset and report top-1/3/5/10 accuracy on its test split."""


def _config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subset", type=int, help="number of classes: 10, 36, 98 or 360 (default: the profile's)")
    p.add_argument("--model", help="timm name (resnet50, convnext_tiny.fb_in22k_ft_in1k), torchvision/<name>, or "
                                   "tf_efficientnet_lite0 (offline ImageNet weights); default: the profile's")
    p.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=None,
                   help="start from ImageNet weights (--no-pretrained: random initialisation)")
    p.add_argument("--resolution", type=int, help="input side in px (default: the profile's, else the model's)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the profile's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the profile's)")
    p.add_argument("--lr", type=float, help="peak AdamW learning rate (default: the profile's)")
    p.add_argument("--balanced", dest="balanced_sampler", action=argparse.BooleanOptionalAction, default=None,
                   help="draw training photos class-balanced (with replacement)")
    p.add_argument("--num-workers", type=int, help="DataLoader worker processes (default: the profile's)")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "fewshot", "few-shot classification: fine-tune and evaluate a classifier on an n-class subset",
                    DESCRIPTION)
    groups = p.add_subparsers(dest="fewshot_command", metavar="{train,eval,grid}", required=True)
    t = groups.add_parser(
        "train", help="fine-tune one configuration (resumes an interrupted run, reuses a finished one)",
        description="Fine-tune a classifier (AdamW, warm-up + cosine, label smoothing, augmentations) and keep "
                    "the best checkpoint on the validation split under RESULTS/<profile>/artifacts/fewshot/. "
                    "Prints one JSON line per epoch. Under torchrun it trains data-parallel (NCCL on GPUs, gloo "
                    "on CPUs; --batch-size stays the global batch) and only rank 0 writes.",
        epilog="examples:\n  minerals fewshot train --subset 10 --model tf_efficientnet_lite0 --resolution 128\n"
               "  minerals fewshot train --profile paper --data-root ~/mi5k --subset 98 --model resnet50.a1_in1k\n"
               "  torchrun --standalone --nproc_per_node 8 -m minerals fewshot train --profile paper --device cuda "
               "--data-root ~/mi5k --subset 98 --model resnet50.a1_in1k",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(t)
    _config_flags(t)
    t.set_defaults(func=run_train)
    e = groups.add_parser(
        "eval", help="evaluate a trained configuration or a checkpoint file on a split",
        description="Top-1/3/5/10, balanced accuracy, per-class recall, confusion matrix and a bootstrap 95 %% "
                    "interval for top-1; per-image top-10 predictions go to predictions.csv. Name the model "
                    "either with the same flags as `train` or with --checkpoint.",
        epilog="examples:\n  minerals fewshot eval --subset 10 --model tf_efficientnet_lite0 --resolution 128\n"
               "  minerals fewshot eval --checkpoint results/smoke/artifacts/fewshot/<run>/best.pt --out preds/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(e)
    _config_flags(e)
    e.add_argument("--checkpoint", help="a best.pt to evaluate instead of the configuration named by the flags")
    e.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to score (default: test)")
    e.add_argument("--out", help="folder for predictions.csv and confusion.csv (with --checkpoint; default: "
                                 "beside the checkpoint)")
    e.set_defaults(func=run_eval)
    g = groups.add_parser(
        "grid", help="run the profile's whole grid (or one shard of it); many workers may share one results folder",
        description="Train and evaluate every configuration of the profile's [fewshot] grid (subsets x entries), "
                    "as notebook 02 does. Workers sharing RESULTS (N shards, SLURM array tasks, or several "
                    "unsharded workers on a shared filesystem) run each cell once: a worker claims a cell with a "
                    "claim file beside its run record, skips cells finished or claimed by others, then waits "
                    "for those; a dead worker's claim expires after --claim-timeout seconds without heartbeat "
                    "and its cell is taken over. A rerun reuses every finished cell.",
        epilog="examples:\n  minerals fewshot grid --profile smoke\n"
               "  minerals fewshot grid --profile paper --data-root ~/mi5k --results /shared/results --shard 0/4\n"
               "  # SLURM (sbatch --array=0-11): 0-based task ids\n"
               "  minerals fewshot grid --profile paper --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(g)
    g.add_argument("--shard", help="I/N: run cells I, I+N, I+2N, ... only (I is 0-based: 0..N-1)")
    g.add_argument("--claim-timeout", type=float, default=None,
                   help="seconds without heartbeat after which another worker's claim is taken over "
                        "(default: $MINERALS_CLAIM_TIMEOUT or 600)")
    g.set_defaults(func=run_grid)


def _session(args: argparse.Namespace):
    from minerals.pipeline.session import SessionError, open_session

    try:
        return open_session("cli:fewshot", args.profile, args.data_root, args.device, args.seed, args.results)
    except (ProfileError, SessionError) as exc:
        raise CommandError(str(exc)) from exc


def _config(args: argparse.Namespace, session):
    from minerals.fewshot.section import FewShotConfig
    from minerals.models.classifiers import ModelError

    flags = ("subset", "model", "pretrained", "resolution", "epochs", "batch_size", "lr", "balanced_sampler",
             "num_workers")
    try:
        return FewShotConfig.from_section(session.profile.section("fewshot"), seed=args.seed,
                                          **{k: getattr(args, k) for k in flags})
    except (ModelError, ValueError) as exc:
        raise CommandError(str(exc)) from exc


def _errors():
    from minerals.data import ImageError, LayoutError
    from minerals.fewshot.section import CheckpointError
    from minerals.models.classifiers import ModelError

    return CheckpointError, ModelError, LayoutError, ImageError


def run_train(args: argparse.Namespace) -> int:
    from minerals.models import distributed
    from minerals.fewshot.section import train_run
    from minerals.results import ResultsError

    session = _session(args)
    cfg = _config(args, session)
    try:
        with distributed.process_group(session.device) as device:  # data-parallel under torchrun
            session.device = device
            summary = train_run(session, cfg)
    except (*_errors(), ResultsError, distributed.DistributedError) as exc:
        if distributed.env_rank() != 0:
            raise SystemExit(2) from exc  # rank 0 says it, once
        raise CommandError(str(exc)) from exc
    if distributed.env_rank() != 0:
        return 0
    print(f"best epoch {summary['best_epoch']} (val top-1 {summary['best_val_top1']:.3f}); "
          f"checkpoint {session.root / summary['checkpoint']}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from minerals.fewshot.section import checkpoint_path, eval_run, evaluate_checkpoint

    session = _session(args)
    try:
        if args.checkpoint:
            result = evaluate_checkpoint(session, args.checkpoint, args.split, args.out)
        else:
            cfg = _config(args, session)
            path = checkpoint_path(session, cfg)
            if not path.is_file():
                raise CommandError(f"no checkpoint at {path} for this configuration; run `minerals fewshot train` "
                                   "with the same flags first, or pass --checkpoint")
            result = eval_run(session, cfg, args.split)
    except _errors() as exc:
        raise CommandError(str(exc)) from exc
    shown = {k: v for k, v in result.items() if k not in ("per_class_recall", "notes")}
    print(json.dumps(shown, indent=2))
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"per-image predictions: {Path(session.root, result['predictions'])}")
    return 0


def run_grid(args: argparse.Namespace) -> int:
    import os

    from minerals.fewshot.section import plan, run_grid as grid, runnable
    from minerals.results import ResultsError, Shard, check_writable, claim_timeout

    try:
        shard = Shard.parse(args.shard) if args.shard else Shard()
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if args.claim_timeout is not None:
        if args.claim_timeout <= 0:
            raise CommandError(f"--claim-timeout {args.claim_timeout}: must be a positive number of seconds")
        os.environ["MINERALS_CLAIM_TIMEOUT"] = str(args.claim_timeout)
    session = _session(args)
    try:
        claim_timeout()
        check_writable(session.root)
        configs, missing = runnable(plan(session.profile.section("fewshot"), session.seed), session.release)
        if missing:
            print(f"skipped subsets {', '.join(map(str, missing))}: {session.data_root} has no minerals_<n>.csv "
                  "for them")
        mine = shard.select(configs)
        print(f"shard {shard.index}/{shard.count}: {len(mine)} of {len(configs)} cells; results {session.root}")
        for done, (cfg, row, how) in enumerate(grid(session, configs, shard), 1):
            print(f"[{done}/{len(mine)}] subset {cfg.subset} {cfg.model} {cfg.resolution}px "
                  f"{'pretrained' if cfg.pretrained else 'scratch'}: {how}; top-1 {row['top1']:.3f}", flush=True)
    except ResultsError as exc:
        raise CommandError(str(exc)) from exc
    except _errors() as exc:
        raise CommandError(str(exc)) from exc
    return 0
