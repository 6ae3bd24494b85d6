"""`FewShotConfig`: the settings of one few-shot training run; `FewShotGrid`: the section's runs (the
profile's [fewshot] table)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from minerals.models.classifiers import preprocessing
from minerals.profiles import section_values

# Settings of the [fewshot] profile table that are not FewShotConfig fields.
PLAN_KEYS = ("subsets", "grid", "eval_batch_size", "n_boot", "threads")


@dataclass(frozen=True)
class FewShotConfig:
    """One training run. `resolution` is the square input side in px (None: the model's default)."""

    subset: int = 10
    model: str = "tf_efficientnet_lite0"
    pretrained: bool = True
    resolution: int | None = None
    epochs: int = 10
    shots: int = 0  # training photos per class (drawn with the seed); 0 = every training photo
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    balanced_sampler: bool = False
    augment: bool = True
    amp: bool = True  # bf16 autocast, CUDA only
    channels_last: bool = True  # NHWC memory layout: faster on CUDA and, measured here, on the CPU too
    num_workers: int = 0
    cache_images: bool = True  # keep decoded photos in memory (small subsets, num_workers = 0)
    seed: int = 0

    @classmethod
    def from_section(cls, section: dict, **overrides) -> "FewShotConfig":
        """Defaults <- the profile's [fewshot] values <- `overrides` (None values are ignored).

        Raises ValueError naming unknown settings.
        """
        cfg = cls(**section_values(cls, section, "fewshot", overrides, extra=PLAN_KEYS))
        return replace(cfg, resolution=preprocessing(cfg.model, cfg.resolution).resolution)


def plan(section: dict, seed: int = 0) -> list[FewShotConfig]:
    """The profile's grid: every subset in `subsets` x every entry of `grid` (overrides of the defaults)."""
    subsets = section.get("subsets", [section.get("subset", FewShotConfig.subset)])
    return [FewShotConfig.from_section(section, **{**entry, "subset": n, "seed": seed})
            for n in subsets for entry in section.get("grid", [{}])]


@dataclass(frozen=True)
class FewShotGrid:
    """The section's config: the runs of a profile's [fewshot] table (`plan`), in table order."""

    runs: tuple[FewShotConfig, ...]

    @classmethod
    def from_section(cls, section: dict, seed: int = 0) -> "FewShotGrid":
        """The grid of `section`; ValueError names unknown settings."""
        return cls(tuple(plan(section, seed)))
