"""The classifier `minerals identify` uses when no model flag is given.

1. The best few-shot checkpoint of the results folder (`<results>/*/runs/fewshot/*.json` train records
   whose `best.pt` still exists; highest validation top-1, then newest);
2. else zero-shot CLIP ViT-B/32 with OpenAI's weights over every species of the release (`--data-root`)
   or of the shipped list `resources/species.txt`. Offline without the weights it fails at once (no
   torch import) with the command that fetches them.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path



class DefaultModelError(ValueError):
    """No default classifier can be loaded (the message says what to fetch or pass). Importing it loads no torch."""

CLIP_MODEL, CLIP_TAG = "ViT-B-32", "openai"
CLIP_HUB_REPO = "timm/vit_base_patch32_clip_224.openai"  # open_clip's hf_hub for ViT-B-32/openai
CLIP_HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
CLIP_URL_FILE = "ViT-B-32.pt"  # open_clip's download from openaipublic, kept in ~/.cache/clip
SPECIES_RESOURCE = "species.txt"
FETCH = (f"python -c \"import open_clip; open_clip.create_model('{CLIP_MODEL}', pretrained='{CLIP_TAG}')\"")


def best_checkpoint(results: str | os.PathLike) -> tuple[Path, dict] | None:
    """`(best.pt, train summary)` of the best few-shot run under `results` (every profile), or None."""
    best = None
    for record_path in Path(results).glob("*/runs/fewshot/*.json"):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # a record being written by another process, or not a run record
        if record.get("key", {}).get("stage") != "train":
            continue
        summary = record.get("metrics", {})
        checkpoint = record_path.parents[2] / str(summary.get("checkpoint", ""))
        if not summary.get("checkpoint") or not checkpoint.is_file():
            continue
        rank = (float(summary.get("best_val_top1") or 0.0), checkpoint.stat().st_mtime)
        if best is None or rank > best[0]:
            best = (rank, checkpoint, summary)
    return None if best is None else (best[1], best[2])


def clip_weights_cached() -> bool:
    """Whether ViT-B-32/openai weights are in the Hugging Face cache or ~/.cache/clip (no torch import)."""
    from huggingface_hub import try_to_load_from_cache

    if any(isinstance(try_to_load_from_cache(CLIP_HUB_REPO, name), str) for name in CLIP_HUB_FILES):
        return True
    return (Path.home() / ".cache" / "clip" / CLIP_URL_FILE).is_file()


def require_clip_weights() -> None:
    """Raise DefaultModelError at once when the weights are missing and the network is off."""
    from minerals.models import offline

    if offline() and not clip_weights_cached():
        raise DefaultModelError(f"no few-shot checkpoint in the results folder, and the default zero-shot classifier "
                            f"CLIP {CLIP_MODEL}/{CLIP_TAG} is not in the Hugging Face cache (repo {CLIP_HUB_REPO}) "
                            f"while the network is off. Fetch it on a machine with network: {FETCH} (then copy "
                            "~/.cache/huggingface here), or train one: minerals fewshot train, or pass --model SPEC")


def species(data_root: str | os.PathLike | None = None) -> tuple[list[str], str]:
    """`(species names, where from)`: every species of the release at `data_root`, else the shipped list."""
    if data_root:
        from minerals.data import LayoutError, open_release

        try:
            release = open_release(data_root)
        except LayoutError as exc:
            raise DefaultModelError(str(exc)) from exc
        return release.classes(), f"every species of {release.root}"
    shipped = resources.files("minerals.resources") / SPECIES_RESOURCE
    if not shipped.is_file():
        raise DefaultModelError(f"no species list shipped (minerals/resources/{SPECIES_RESOURCE}); pass --data-root DIR "
                            "(the release, for its species) or --classes FILE (one species per line)")
    names = [line.split("#", 1)[0].strip() for line in shipped.read_text(encoding="utf-8").splitlines()]
    return [n for n in names if n], f"the shipped species list ({SPECIES_RESOURCE})"
