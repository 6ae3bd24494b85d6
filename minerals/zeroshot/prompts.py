"""The text side of zero-shot CLIP as data: prompt templates, ensembles, class-name normalisation.

Templates and ensembles live in `resources/prompts.json` (open_clip style: `"a photo of {}."`);
spelling fixes of English species names live in `resources/class_names.csv`. Nothing here loads a
model.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pandas as pd

DESCRIPTIONS = "descriptions"  # the ensemble member that adds per-class descriptions from the data
_NUM = r"\d+(?:[.,]\d+)?"
_UNIT = r"(?:cm|mm|см|мм)\b\.?"
_SIZE = re.compile(rf"{_NUM}(?:\s*[x×х]\s*{_NUM}){{1,2}}\s*(?:{_UNIT})?|{_NUM}\s*{_UNIT}", re.IGNORECASE)
_ODD = re.compile(r"[^A-Za-z \-'()]")


class PromptError(ValueError):
    """An unknown template set or ensemble, or a malformed prompts file."""


@lru_cache(maxsize=1)
def prompt_library() -> dict:
    """`resources/prompts.json`: `{"templates": {set: [template]}, "ensembles": {name: [set]}}`."""
    path = resources.files("minerals").joinpath("resources/prompts.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    for name, templates in doc["templates"].items():
        bad = [t for t in templates if t.count("{}") != 1]
        if bad:
            raise PromptError(f"{path}: template set {name!r} has templates without exactly one '{{}}': {bad[:3]}")
    for name, members in doc["ensembles"].items():
        unknown = [m for m in members if m not in doc["templates"] and m != DESCRIPTIONS]
        if unknown:
            raise PromptError(f"{path}: ensemble {name!r} names unknown template sets {unknown}")
    return doc


def ensemble_templates(name: str) -> list[str]:
    """The templates of an ensemble (or of a single template set), in file order, duplicates dropped."""
    lib = prompt_library()
    members = lib["ensembles"].get(name) or ([name] if name in lib["templates"] else None)
    if members is None:
        raise PromptError(f"unknown prompt ensemble {name!r}; known: {', '.join(sorted(lib['ensembles']))} "
                          f"(resources/prompts.json)")
    out: list[str] = []
    for member in members:
        if member != DESCRIPTIONS:
            out.extend(t for t in lib["templates"][member] if t not in out)
    return out


def uses_descriptions(name: str) -> bool:
    """Whether an ensemble adds the per-class descriptions of the data."""
    return DESCRIPTIONS in prompt_library()["ensembles"].get(name, [])


@dataclass(frozen=True)
class NameFix:
    en: str
    ru: str
    source: str


@lru_cache(maxsize=1)
def name_fixes() -> dict[str, NameFix]:
    """`resources/class_names.csv` keyed by the casefolded raw English name."""
    path = resources.files("minerals").joinpath("resources/class_names.csv")
    with path.open(encoding="utf-8", newline="") as fp:
        rows = list(csv.DictReader(fp))
    missing = {"raw_en", "en", "ru", "source"} - set(rows[0] if rows else {})
    if missing:
        raise PromptError(f"{path}: missing columns {sorted(missing)}")
    return {_clean(r["raw_en"]).casefold(): NameFix(_clean(r["en"]), r["ru"].strip(), r["source"]) for r in rows}


def _clean(name: str) -> str:
    return " ".join(str(name).replace("_", " ").split())


def normalise_name(raw: str) -> str:
    """A species name as written in the data -> its normalised English name.

    Whitespace and `_` are tidied, known misspellings fixed (`class_names.csv`), and an all-lower or
    all-upper name gets a capital first letter (`QUARTZ`, `quartz` -> `Quartz`).
    """
    clean = _clean(raw)
    fix = name_fixes().get(clean.casefold())
    name = fix.en if fix else clean
    return name.capitalize() if name.islower() or name.isupper() else name


def normalise_classes(raw: list[str]) -> tuple[list[str], list[int]]:
    """Normalised, deduplicated class names (sorted) and the new label of each raw class.

    Two raw spellings of one species (differing in case, spaces or a known misspelling) become one
    class: `new_label[old_label]`.
    """
    normal = [normalise_name(r) for r in raw]
    first: dict[str, str] = {}
    for name in sorted(normal):
        first.setdefault(name.casefold(), name)
    names = sorted(first.values(), key=str.casefold)
    index = {n.casefold(): i for i, n in enumerate(names)}
    return names, [index[n.casefold()] for n in normal]


def russian_names(raw_en: list[str], raw_ru: list[str], names: list[str], new_label: list[int]) -> list[str]:
    """Russian name of each normalised class: the data's first non-empty one, else the CSV's, else ''."""
    out = [""] * len(names)
    for en, ru, label in zip(raw_en, raw_ru, new_label):
        if not out[label] and str(ru).strip():
            out[label] = str(ru).strip()
    fixes = {f.en: f.ru for f in name_fixes().values()}
    return [ru or fixes.get(name, "") for ru, name in zip(out, names)]


def odd_names(raw: list[str]) -> list[str]:
    """Raw names that still look odd after normalisation: empty, non-Latin letters, digits, punctuation.

    Add the ones that are misspellings to `resources/class_names.csv`.
    """
    return [name for name in raw if not normalise_name(name) or _ODD.search(normalise_name(name))]


def class_descriptions(frame: pd.DataFrame, label_col: str = "label", per_class: int = 5) -> dict[int, list[str]]:
    """Per-class text from the data's `description` column: sizes stripped, most frequent first.

    Pass only rows that are not evaluated (the train split), so no test photo's own text leaks.
    """
    if "description" not in frame.columns:
        return {}
    text = frame["description"].fillna("").astype(str).map(lambda s: " ".join(_SIZE.sub(" ", s).split()).strip(" .,;"))
    keep = text.str.split().str.len().fillna(0) >= 2
    out: dict[int, list[str]] = {}
    for label, group in text[keep].groupby(frame.loc[keep, label_col]):
        out[int(label)] = group.value_counts().index[:per_class].tolist()
    return out
