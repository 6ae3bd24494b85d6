"""What every part of the check shares: claims, statuses, value parsing, where the files are."""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from minerals.pipeline.registry import notebook_registry

PASS, FAIL, MISSING, INFO, NOT_TRANSCRIBED = "pass", "fail", "missing", "informational", "not transcribed"
STATUSES = (PASS, FAIL, MISSING, INFO, NOT_TRANSCRIBED)
EXACT, STATISTICAL = "exact", "statistical"  # comparison modes (see minerals.check.smoke)
PROFILES = ("smoke", "paper")

EXACT_RTOL, EXACT_ATOL = 1e-9, 1e-12  # "exact" survives a CSV round trip but no real change
REFERENCE_NAME = "minerals/resources/smoke_reference"
TABLE_CLAIM = "(table)"  # the metric of a claim about a whole table (its smoke reference is missing)


class CheckError(ValueError):
    """A malformed ledger, reference table or tolerance file; the message names the file."""


@dataclass(frozen=True)
class Claim:
    """One number compared: `table[key].metric`, expected against ours.

    `expected` and `ours` are floats (in the paper's unit for paper claims) or strings; `delta` is
    ours - expected when both are numbers; `tolerance` says how they were compared; `where` is the
    place in the paper (paper claims) or the reference file (smoke claims); `detail` says why a claim
    is missing or failed when the numbers alone do not.
    """

    profile: str
    table: str
    key: str
    metric: str
    expected: float | str | None
    ours: float | str | None
    delta: float | None
    status: str
    tolerance: str = ""
    where: str = ""
    detail: str = ""
    allowed: float | None = None  # the band |delta| had to stay within (None: exact, or not compared)
    n: int | None = None  # photos behind the number, when its rule knows them
    exact: bool | None = None  # whether ours equals the reference bit for bit (numbers only)

    @property
    def name(self) -> str:
        """`table[key].metric`, the claim as one token."""
        return f"{self.table}[{self.key}].{self.metric}" if self.key else f"{self.table}.{self.metric}"


# ---------------------------------------------------------------------------------------------- files

def resource_path(name: str) -> Path:
    """A file or folder under `minerals/resources/` (a real path: the package is installed from files)."""
    return Path(str(resources.files("minerals").joinpath("resources", name)))


def reference_dir() -> Path:
    """`minerals/resources/smoke_reference/`: committed smoke tables and their tolerances."""
    return resource_path("smoke_reference")


def declared_tables() -> list[str]:
    """Table ids that `resources/notebooks.toml` declares, in notebook order."""
    return [t for entry in notebook_registry().values() for t in entry.get("tables", [])]


def tables_dir(profile: str, results_dir: str | Path) -> Path:
    """Where a profile's regenerated tables are: `<results_dir>/<profile>/tables`.

    `results_dir` may also be the profile folder itself (it then holds `tables/` directly).
    """
    results_dir = Path(results_dir).expanduser()
    nested = results_dir / profile / "tables"
    if not nested.is_dir() and (results_dir / "tables").is_dir():
        return results_dir / "tables"
    return nested


def read_table(path: Path) -> pd.DataFrame:
    """A results CSV as strings (no type guessing, empty cells stay ""), so both sides parse alike."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CheckError(f"{path}: cannot read the table ({exc}); regenerate it with `minerals reproduce`") from exc


# ---------------------------------------------------------------------------------------------- values

def to_number(text) -> float | None:
    """The float a cell holds, or None when it is not a number (`nan`, `NaN` and `inf` are numbers)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    try:
        return float(str(text).strip())
    except ValueError:
        return None


def normalise(text) -> str:
    """A cell as a match key: numbers canonical (`224.0` -> `224`), text stripped and case-folded."""
    number = to_number(text)
    if number is not None and math.isfinite(number):
        return str(int(number)) if number.is_integer() else repr(number)
    return str(text).strip().casefold()


def format_value(value) -> str:
    """A value for display: floats with 6 significant digits, None as an empty string."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_key(key: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())


def parse_key(text: str, where: str) -> dict:
    """`subset=10;model=resnet50` -> {"subset": "10", "model": "resnet50"}."""
    key = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        column, sep, value = part.partition("=")
        if not sep or not column.strip():
            raise CheckError(f"{where}: key part {part!r} is not column=value (join pairs with ';')")
        key[column.strip()] = value.strip()
    return key


def within(expected: float, ours: float, tolerance: float) -> bool:
    """Whether `ours` equals `expected` up to an absolute tolerance (0 = exact up to float noise)."""
    if math.isnan(expected) or math.isnan(ours):
        return math.isnan(expected) and math.isnan(ours)
    if tolerance == 0:
        return math.isclose(ours, expected, rel_tol=EXACT_RTOL, abs_tol=EXACT_ATOL)
    return abs(ours - expected) <= tolerance * (1 + EXACT_RTOL)


def match_rows(df: pd.DataFrame, key: dict) -> pd.DataFrame:
    """Rows of `df` whose key columns equal `key` (normalised)."""
    mask = pd.Series(True, index=df.index)
    for column, value in key.items():
        mask &= df[column].map(normalise) == normalise(value)
    return df[mask]




class Claims(list):
    """A list of claims that also says how they were compared: `mode` (exact or statistical) and why."""

    def __init__(self, claims=(), mode: str = "", reason: str = ""):
        super().__init__(claims)
        self.mode = mode
        self.reason = reason
