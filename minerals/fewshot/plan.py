"""What a few-shot grid costs: photos processed per run, multiply-accumulates per photo, estimated hours.

Photo counts come from the paper's subset table (`resources/paper_subsets.csv`) and the split
fractions used when a subset CSV has no split (`minerals.data.splits.FRACTIONS`). Multiply-accumulates
(MACs) of one forward pass are counted by `torch.utils.flop_counter` on the meta device (no weights,
no memory). Hours are extrapolated from one measured throughput by the ratio of MACs, which is rough:
depthwise-convolution networks reach a lower share of a device's peak than dense ones.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from minerals.data.verify import paper_subsets

TRAIN_PASS_COST = 3  # a training step costs about three forward passes (forward + backward)
# Published ResNet-50 v1.5 training throughput on one A100 80GB with AMP (NVIDIA DeepLearningExamples),
# images/s: not measured here; the GPU hours of table `fewshot_plan` are scaled from it by MACs.
GPU_RESNET50_IMAGES_PER_S = 2700
# Wall time of one configuration trained data-parallel (torchrun) on this many GPUs.
WALL_GPUS = (1, 8, 64)


@lru_cache(maxsize=None)
def forward_gmacs(model: str, resolution: int, num_classes: int = 10) -> float:
    """GMACs of one forward pass of one `resolution` px image (counted on the meta device)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from minerals.models.classifiers import create_classifier

    with torch.device("meta"):
        net = create_classifier(model, num_classes, pretrained=False).eval()
        x = torch.empty(1, 3, resolution, resolution)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    return counter.get_total_flops() / 2e9


def grid_cost(configs, fractions: tuple[float, float, float] | None = None) -> pd.DataFrame:
    """One row per config: photos seen in training and evaluation, GMACs per photo, total TMACs.

    `configs` are `FewShotConfig`s; photo counts are the paper's subset sizes split by `fractions`
    (train, val, test; default the loader's). `shots` > 0 caps the training photos per class.
    """
    from minerals.data.splits import FRACTIONS

    train_f, val_f, test_f = fractions or FRACTIONS
    sizes = paper_subsets().set_index("subset")
    rows = []
    for cfg in configs:
        images = int(sizes.loc[str(cfg.subset), "images"])
        train = round(images * train_f)
        if cfg.shots:
            train = min(train, cfg.shots * cfg.subset)
        val, test = round(images * val_f), round(images * test_f)
        gmacs = forward_gmacs(cfg.model, int(cfg.resolution))
        train_passes = train * cfg.epochs * TRAIN_PASS_COST
        eval_passes = val * cfg.epochs + test
        rows.append({"subset": cfg.subset, "model": cfg.model, "resolution": cfg.resolution, "epochs": cfg.epochs,
                     "train_images": train, "val_images": val, "test_images": test, "gmacs_per_image": gmacs,
                     "tmacs": (train_passes + eval_passes) * gmacs / 1e3})
    return pd.DataFrame(rows)


def estimate_hours(cost: pd.DataFrame, reference_images_per_s: float, reference_gmacs: float) -> pd.Series:
    """Hours per row, extrapolated from a measured training throughput (images/s of a model of
    `reference_gmacs` forward GMACs per image) by the ratio of MACs."""
    train_tmacs_per_s = reference_images_per_s * TRAIN_PASS_COST * reference_gmacs / 1e3
    return cost["tmacs"] / train_tmacs_per_s / 3600


def plan_table(configs, reference: dict) -> pd.DataFrame:
    """Table `fewshot_plan`: `grid_cost(configs)` with `cpu_hours`, `gpu_hours` and `wall_h_<k>gpu` columns.

    CPU hours scale the training throughput measured in `reference` (a `fewshot` table row: `model`,
    `resolution`, `train_images_per_s`) by MACs; GPU hours scale `GPU_RESNET50_IMAGES_PER_S`.
    `wall_h_<k>gpu` is a configuration's wall time data-parallel on k GPUs under ideal scaling
    (gpu_hours / k): a lower bound, since gradient all-reduce and input decoding are not counted.
    """
    cost = grid_cost(configs)
    reference_gmacs = forward_gmacs(reference["model"], int(reference["resolution"]))
    cost["cpu_hours"] = estimate_hours(cost, reference["train_images_per_s"], reference_gmacs)
    cost["gpu_hours"] = estimate_hours(cost, GPU_RESNET50_IMAGES_PER_S, forward_gmacs("resnet50", 224))
    for k in WALL_GPUS:
        cost[f"wall_h_{k}gpu"] = cost["gpu_hours"] / k
    return cost
