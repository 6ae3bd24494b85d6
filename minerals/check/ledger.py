"""The paper's numbers (`resources/ledger.csv`) and the comparison of the `paper` profile against them.

One row per number the paper publishes: table id, row key, metric, the paper's value in the paper's
unit, a tolerance in that unit, where in the paper. An empty value means "not transcribed yet": fill
it in from the PDF, no code changes needed. Row keys are `column=value` pairs joined by `;` (for
example `subset=10;model=resnet50`) and match our table's columns, ignoring case. A value may also be
a bound as the paper states it (`>100`). The subset table is not repeated there: its rows come from
the data module's `paper_subsets.csv`.

The paper profile never runs on the reference's machine, so a number passes when it is within its own
sampling noise of the paper's (the statistical rules of `smoke_reference/tolerances.toml`, applied to
our row), or within the ledger's tolerance when that is wider.
"""

from __future__ import annotations

import csv
import io
import operator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from minerals.check.core import (FAIL, MISSING, NOT_TRANSCRIBED, PASS, STATISTICAL, CheckError, Claim, Claims,
                                 format_key, format_value, match_rows, normalise, parse_key, read_table,
                                 resource_path, tables_dir, to_number, within)
from minerals.check.rules import load_tolerances, noise_band

LEDGER_COLUMNS = ("table", "key", "metric", "paper_value", "unit", "tolerance", "where", "note")
# How a number of our tables (fractions, cm, counts) is expressed in the paper's unit.
UNIT_SCALE = {"percent": 100.0, "fraction": 1.0, "count": 1.0, "cm": 1.0, "": 1.0}
BOUNDS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
# The paper's subset table lives in resources/paper_subsets.csv (the data module's); notebook 01's table
# `subsets` holds our counts as found_<column>.
SUBSET_COLUMNS = ("classes", "images", "min_per_class")
SUBSET_WHERE = "subset table (dataset section)"


@dataclass(frozen=True)
class LedgerRow:
    """One number the paper publishes; `value` is None when not transcribed yet."""

    table: str
    key: dict
    metric: str
    value: float | None
    bound: str  # "" for a point value, else one of BOUNDS
    unit: str
    tolerance: float
    where: str
    note: str = ""
    text: str = ""  # the paper value as written in the ledger

    @property
    def key_text(self) -> str:
        return format_key(self.key)


def load_ledger(path: str | Path | None = None) -> list[LedgerRow]:
    """The paper's numbers, validated; raises CheckError naming the file and line of a bad row.

    By default `resources/ledger.csv` plus the subset table that the data module keeps in
    `resources/paper_subsets.csv` (claims `subsets[subset=S].found_<column>`); with `path`, that file only.
    """
    path = Path(path) if path else None
    records = list(_csv_records(path)) if path else [*_subset_records(), *_csv_records(resource_path("ledger.csv"))]
    rows, seen = [], set()
    for where, raw in records:
        row = _ledger_row(raw, where)
        ident = (row.table, normalise(row.key_text), row.metric)
        if ident in seen:
            raise CheckError(f"{where}: duplicate claim {row.table}[{row.key_text}].{row.metric}")
        seen.add(ident)
        rows.append(row)
    return rows


def _csv_records(path: Path):
    """(where, row dict) for every line of a ledger CSV."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckError(f"{path}: cannot read the ledger ({exc.strerror})") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in LEDGER_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CheckError(f"{path}: missing column(s) {', '.join(missing)}; the header must be {','.join(LEDGER_COLUMNS)}")
    for line, raw in enumerate(reader, start=2):
        yield f"{path}, line {line}", {k: (v or "").strip() for k, v in raw.items() if k is not None}


def _subset_records():
    """Ledger rows from the paper's subset table (`paper_subsets.csv`); an empty cell is a "–" in the paper."""
    from minerals.data.verify import PAPER_TABLE, paper_subsets

    for line, paper in enumerate(paper_subsets().itertuples(index=False), start=2):
        for column in SUBSET_COLUMNS:
            value = getattr(paper, column)
            if pd.isna(value):
                continue
            yield f"minerals/{PAPER_TABLE}, line {line}", {
                "table": "subsets", "key": f"subset={paper.subset}", "metric": f"found_{column}",
                "paper_value": str(int(value)), "unit": "count", "tolerance": "0", "where": SUBSET_WHERE,
                "note": paper.note if isinstance(paper.note, str) else ""}


def _ledger_row(raw: dict, where: str) -> LedgerRow:
    if not raw["table"] or not raw["metric"]:
        raise CheckError(f"{where}: table and metric are required")
    if raw["unit"] not in UNIT_SCALE:
        raise CheckError(f"{where}: unknown unit {raw['unit']!r}; use one of {', '.join(u for u in UNIT_SCALE if u)} or leave it empty")
    key = parse_key(raw["key"], where)
    bound = next((op for op in BOUNDS if raw["paper_value"].startswith(op)), "")
    value_text = raw["paper_value"][len(bound):].strip()
    value = to_number(value_text) if value_text else None
    if value_text and value is None:
        raise CheckError(f"{where}: paper_value {raw['paper_value']!r} is not a number (or a bound like >100)")
    tolerance = to_number(raw["tolerance"] or "0")
    if tolerance is None or not tolerance >= 0:
        raise CheckError(f"{where}: tolerance {raw['tolerance']!r} must be a number >= 0, in the paper's unit")
    return LedgerRow(table=raw["table"], key=key, metric=raw["metric"], value=value, bound=bound, unit=raw["unit"],
                     tolerance=tolerance, where=raw["where"], note=raw["note"], text=raw["paper_value"])


def paper_table(table_id: str, ledger: list[LedgerRow] | None = None) -> pd.DataFrame:
    """The paper's numbers for one table as the ledger holds them: one row per key, one column per metric.

    Key columns come first; values are floats in the paper's unit, a bound as written (`>100`), or NaN
    when not transcribed. Notebooks show it beside our table (e.g. `paper_table("subsets")`).
    """
    ledger = load_ledger() if ledger is None else ledger
    rows: dict[str, dict] = {}
    for r in (r for r in ledger if r.table == table_id):
        row = rows.setdefault(r.key_text, dict(r.key))
        row[r.metric] = r.text if r.bound else (r.value if r.value is not None else float("nan"))
    if not rows:
        raise CheckError(f"the ledger has no rows for table {table_id!r}")
    return pd.DataFrame(list(rows.values()))


def compare_paper(results_dir: str | Path, ledger: list[LedgerRow] | None = None) -> Claims:
    """One claim per ledger row against `<results_dir>/paper/tables/`, within sampling noise."""
    ledger = load_ledger() if ledger is None else ledger
    specs = load_tolerances()
    folder = tables_dir("paper", results_dir)
    tables: dict[str, pd.DataFrame | None] = {}
    claims = Claims(mode=STATISTICAL, reason="the paper profile is compared with the paper's numbers within "
                                             "each number's sampling noise (or the ledger's tolerance)")
    for row in ledger:
        if row.table not in tables:
            path = folder / f"{row.table}.csv"
            tables[row.table] = read_table(path) if path.exists() else None
        claims.append(_paper_claim(row, tables[row.table], folder / f"{row.table}.csv", specs))
    return claims


def _paper_claim(row: LedgerRow, table: pd.DataFrame | None, path: Path, specs: dict) -> Claim:
    scale = UNIT_SCALE[row.unit]
    base = dict(profile="paper", table=row.table, key=row.key_text, metric=row.metric,
                expected=row.text if row.bound else row.value, where=row.where)

    ours, problem, ours_row = None, "", None
    if table is None:
        problem = f"no results table paper/tables/{path.name}"
    elif absent := [c for c in (*row.key, row.metric) if c not in table.columns]:
        problem = f"{path.name} has no column {', '.join(absent)}"
    elif len(matches := match_rows(table, row.key)) != 1:
        problem = (f"no row {row.key_text or '(any)'} in {path.name}" if len(matches) == 0 else
                   f"{len(matches)} rows of {path.name} match {row.key_text or '(any)'}; make the ledger key unique")
    else:
        ours_row = matches.iloc[0].to_dict()
        number = to_number(ours_row[row.metric])
        ours = number * scale if number is not None else ours_row[row.metric]

    if row.value is None:
        return Claim(**base, ours=ours if not problem else None, delta=None, status=NOT_TRANSCRIBED,
                     tolerance="", detail=row.note)
    if problem:
        return Claim(**base, ours=None, delta=None, status=MISSING, tolerance="", detail=problem)
    if not isinstance(ours, float):
        return Claim(**base, ours=ours, delta=None, status=FAIL, tolerance="", detail=f"ours is not a number: {ours!r}")
    delta = ours - row.value
    if row.bound:
        return Claim(**base, ours=ours, delta=delta, tolerance=f"{row.bound} paper value",
                     status=PASS if BOUNDS[row.bound](ours, row.value) else FAIL)
    spec = specs.get(row.table)
    try:
        band = noise_band(spec, row.metric, {**ours_row, row.metric: str(row.value / scale)}) if spec else None
    except CheckError:  # our table lacks what the rule reads (an interval, n): the ledger's tolerance alone
        band = None
    allowed, n = row.tolerance, None
    if band is not None and band.allowed * scale > allowed:
        allowed, n = band.allowed * scale, band.n
    tolerance = f"±{format_value(allowed)}" if allowed else "exact"
    return Claim(**base, ours=ours, delta=delta, tolerance=tolerance, allowed=allowed or None, n=n,
                 status=PASS if within(row.value, ours, allowed) else FAIL)
