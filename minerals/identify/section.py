"""The identify section (notebook 06, `minerals check`): demo photos identified by the few-shot model.

`run(session, cfg)` identifies `cfg.demo_photos` test photos of the 10-class subset (one per species,
seeded) plus a text file named like a photo (an error entry), returns table `identify` and writes every
photo's JSON record to `artifacts/identify/records.jsonl` (`records_path`). The report figure draws
from arrays that records do not hold: `report_items` identifies the first photos again for it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from minerals.identify.identifier import IdentifyConfig, Identification, Identifier, demo_photos, fewshot_classifier
from minerals.identify.identifier import summary_table, write_records
from minerals.models.registry import LoadedModel

SECTION = "identify"
SUBSET = 10  # the few-shot model of the 10-class subset (the few-shot page's first run)
SYNTHETIC_WARNING = "trained and tested on synthetic photos: its species say nothing about real specimens"


def classifier(session) -> LoadedModel:
    """The few-shot classifier of the `SUBSET`-class subset (trained on a cache miss), with a warning on
    synthetic data."""
    from minerals.fewshot.section import trained_model

    model, info = trained_model(session, subset=SUBSET)
    synthetic = session.release.report.get("synthetic", False)
    return fewshot_classifier(model, info, session.device, warning=SYNTHETIC_WARNING if synthetic else None)


def inputs(session, cfg: IdentifyConfig) -> tuple[pd.DataFrame, list[Path]]:
    """`(demo photos, the paths to identify)`: the photos, then `notes.jpg`, a text file (an error entry)."""
    photos = demo_photos(session.release, subset=SUBSET, n=cfg.demo_photos, seed=session.seed)
    not_a_photo = session.artifacts(SECTION) / "notes.jpg"
    not_a_photo.write_text("a text file with an image name\n", encoding="utf-8")
    return photos, [*map(Path, photos["path"]), not_a_photo]


def records_path(session) -> Path:
    """Where `run` writes every input's JSON record (JSON lines, as `minerals identify --json`)."""
    return session.artifacts(SECTION) / "records.jsonl"


def run(session, cfg: IdentifyConfig) -> dict[str, pd.DataFrame]:
    """Table `identify` (`identifier.summary_table` with the truth of the demo photos); records to `records_path`."""
    photos, paths = inputs(session, cfg)
    items = list(Identifier(classifier(session), cfg).run(paths, progress=False))
    write_records(records_path(session), [it.record for it in items])
    return {"identify": summary_table([it.record for it in items], photos)}


def report_items(session, cfg: IdentifyConfig, n: int = 3) -> list[Identification]:
    """The first `n` demo photos identified with their arrays (photo, CAM, mask, size estimate) for
    `identify.report.report_figure`; photos that fail are left out."""
    photos, _ = inputs(session, cfg)
    items = Identifier(classifier(session), cfg).run(photos["path"].head(n), progress=False)
    return [it for it in items if it.ok]
