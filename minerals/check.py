"""The reproduction check: regenerated tables against committed expectations, one claim per number.

Two sources of expected values, both data files in `minerals/resources/`:

- `smoke_reference/<id>.csv`: the tables of the `smoke` profile as committed (written by
  `minerals check --profile smoke --update-reference`), compared cell by cell. Rows are matched on the
  key columns that `smoke_reference/tolerances.toml` declares per table; a value must be equal
  (floats: within 1e-9 relative) unless a tolerance is declared for its column; timing columns are
  ignored.
- `ledger.csv`: one row per number the paper publishes (table id, row key, metric, the paper's value in
  the paper's unit, a tolerance in that unit, where in the paper). An empty value means "not
  transcribed yet": fill it in from the PDF, no code changes needed. Row keys are `column=value` pairs
  joined by `;` (for example `subset=10;model=resnet50`) and match our table's columns, ignoring case.
  A value may also be a bound as the paper states it (`>100`). The subset table is not repeated there:
  its rows come from the data module's `paper_subsets.csv`.

Each comparison is a `Claim` whose status is `pass`, `fail`, `missing` (our table, row or column is
absent) or `not transcribed`. `render_markdown` turns claims into the book's "Reproduction report" page.
"""

from __future__ import annotations

import csv
import io
import math
import operator
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from minerals.results import atomic_write
from minerals.session import notebook_registry

PASS, FAIL, MISSING, NOT_TRANSCRIBED = "pass", "fail", "missing", "not transcribed"
STATUSES = (PASS, FAIL, MISSING, NOT_TRANSCRIBED)
PROFILES = ("smoke", "paper")

LEDGER_COLUMNS = ("table", "key", "metric", "paper_value", "unit", "tolerance", "where", "note")
# How a number of our tables (fractions, cm, counts) is expressed in the paper's unit.
UNIT_SCALE = {"percent": 100.0, "fraction": 1.0, "count": 1.0, "cm": 1.0, "": 1.0}
BOUNDS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
EXACT_RTOL, EXACT_ATOL = 1e-9, 1e-12  # "exact" survives a CSV round trip but no real change
# The paper's subset table lives in resources/paper_subsets.csv (the data module's); notebook 01's table
# `subsets` holds our counts as found_<column>.
SUBSET_COLUMNS = ("classes", "images", "min_per_class")
SUBSET_WHERE = "subset table (dataset section)"
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

    @property
    def name(self) -> str:
        """`table[key].metric`, the claim as one token."""
        return f"{self.table}[{self.key}].{self.metric}" if self.key else f"{self.table}.{self.metric}"


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


@dataclass(frozen=True)
class TableSpec:
    """How one smoke table is compared: key columns, ignored columns, absolute tolerance per column."""

    key: tuple = ()
    ignore: frozenset = frozenset()
    tolerance: dict = field(default_factory=dict)


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


# ---------------------------------------------------------------------------------------------- ledger

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


def compare_paper(results_dir: str | Path, ledger: list[LedgerRow] | None = None) -> list[Claim]:
    """One claim per ledger row against `<results_dir>/paper/tables/`."""
    ledger = load_ledger() if ledger is None else ledger
    folder = tables_dir("paper", results_dir)
    tables: dict[str, pd.DataFrame | None] = {}
    claims = []
    for row in ledger:
        if row.table not in tables:
            path = folder / f"{row.table}.csv"
            tables[row.table] = read_table(path) if path.exists() else None
        claims.append(_paper_claim(row, tables[row.table], folder / f"{row.table}.csv"))
    return claims


def _paper_claim(row: LedgerRow, table: pd.DataFrame | None, path: Path) -> Claim:
    scale = UNIT_SCALE[row.unit]
    tolerance = (f"{row.bound} paper value" if row.bound else
                 f"±{format_value(row.tolerance)}" if row.tolerance else "exact")
    base = dict(profile="paper", table=row.table, key=row.key_text, metric=row.metric,
                expected=row.text if row.bound else row.value, where=row.where, tolerance=tolerance)

    ours, problem = None, ""
    if table is None:
        problem = f"no results table paper/tables/{path.name}"
    elif absent := [c for c in (*row.key, row.metric) if c not in table.columns]:
        problem = f"{path.name} has no column {', '.join(absent)}"
    elif len(matches := match_rows(table, row.key)) != 1:
        problem = (f"no row {row.key_text or '(any)'} in {path.name}" if len(matches) == 0 else
                   f"{len(matches)} rows of {path.name} match {row.key_text or '(any)'}; make the ledger key unique")
    else:
        cell = matches.iloc[0][row.metric]
        number = to_number(cell)
        ours = number * scale if number is not None else cell

    if row.value is None:
        return Claim(**base, ours=ours if not problem else None, delta=None, status=NOT_TRANSCRIBED,
                     detail=row.note)
    if problem:
        return Claim(**base, ours=None, delta=None, status=MISSING, detail=problem)
    if not isinstance(ours, float):
        return Claim(**base, ours=ours, delta=None, status=FAIL, detail=f"ours is not a number: {ours!r}")
    delta = ours - row.value
    ok = BOUNDS[row.bound](ours, row.value) if row.bound else within(row.value, ours, row.tolerance)
    return Claim(**base, ours=ours, delta=delta, status=PASS if ok else FAIL)


# ---------------------------------------------------------------------------------------------- smoke

def load_tolerances(path: str | Path | None = None) -> dict[str, TableSpec]:
    """`smoke_reference/tolerances.toml` -> {table id: TableSpec}; `[defaults]` apply to every table."""
    path = Path(path) if path else reference_dir() / "tolerances.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CheckError(f"{path}: cannot read the smoke tolerances ({exc})") from exc
    defaults = data.pop("defaults", {})
    specs = {"": TableSpec(ignore=frozenset(defaults.get("ignore", [])))}
    for table, entry in data.items():
        unknown = set(entry) - {"key", "ignore", "tolerance"} if isinstance(entry, dict) else {"(not a table)"}
        if unknown:
            raise CheckError(f"{path}: [{table}] may hold only key, ignore and tolerance; found {', '.join(sorted(unknown))}")
        tolerance = entry.get("tolerance", {})
        bad = {c: v for c, v in tolerance.items() if to_number(v) is None or to_number(v) < 0}
        if bad:
            raise CheckError(f"{path}: [{table}.tolerance] values must be numbers >= 0, got {bad}")
        specs[table] = TableSpec(key=tuple(entry.get("key", [])),
                                 ignore=frozenset(defaults.get("ignore", [])) | frozenset(entry.get("ignore", [])),
                                 tolerance={c: float(v) for c, v in tolerance.items()})
    return specs


def compare_smoke(results_dir: str | Path, reference: str | Path | None = None) -> list[Claim]:
    """Claims for every cell of every smoke reference table (and every declared table without one)."""
    ref_dir = Path(reference) if reference else reference_dir()
    specs = load_tolerances(ref_dir / "tolerances.toml")
    folder = tables_dir("smoke", results_dir)
    ids = sorted({p.stem for p in ref_dir.glob("*.csv")}) + [t for t in declared_tables()
                                                             if not (ref_dir / f"{t}.csv").exists()]
    claims = []
    for table_id in ids:
        ref_path, ours_path = ref_dir / f"{table_id}.csv", folder / f"{table_id}.csv"
        where = f"{REFERENCE_NAME}/{ref_path.name}"
        if not ref_path.exists():
            claims.append(Claim("smoke", table_id, "", TABLE_CLAIM, None, None, None, MISSING, where=where,
                                detail="no smoke reference table: run `minerals check --profile smoke --update-reference`"))
            continue
        spec = specs.get(table_id, TableSpec(ignore=specs[""].ignore))
        ours = read_table(ours_path) if ours_path.exists() else None
        claims += compare_tables(table_id, read_table(ref_path), ours, spec, where=where,
                                 ours_name=f"smoke/tables/{ours_path.name}")
    return claims


def compare_tables(table_id: str, expected: pd.DataFrame, ours: pd.DataFrame | None, spec: TableSpec,
                   where: str = "", ours_name: str = "ours") -> list[Claim]:
    """Cell-by-cell claims of one table; rows matched on `spec.key` (by position when no key is declared).

    Both tables are read as strings (`read_table`). Rows or columns of ours that the reference lacks
    fail, so that a stale reference is noticed.
    """
    key_cols = list(spec.key)
    absent_keys = [c for c in key_cols if c not in expected.columns]
    if absent_keys:
        raise CheckError(f"{where}: key column(s) {', '.join(absent_keys)} declared in tolerances.toml are not in "
                         "the reference table; fix the key or update the reference")
    values = [c for c in expected.columns if c not in key_cols and c not in spec.ignore]
    exp_rows = expected.to_dict("records")

    def claim(key, metric, exp, got, delta, status, detail="", tol=0.0):
        return Claim("smoke", table_id, key, metric, exp, got, delta, status, f"±{format_value(tol)}" if tol else "exact",
                     where, detail)

    def keyed(rows):
        """[(display key, normalised key)] per row."""
        if not key_cols:
            return [(f"row {i}", i) for i in range(len(rows))]
        return [(format_key({c: r[c] for c in key_cols}), tuple(normalise(r[c]) for c in key_cols)) for r in rows]

    exp_keys = keyed(exp_rows)
    repeated = [k for k, n in Counter(norm for _, norm in exp_keys).items() if n > 1]
    if repeated:
        raise CheckError(f"{where}: rows are not unique on the key {key_cols} ({repeated[0]}); declare a unique key "
                         f"for [{table_id}] in tolerances.toml")
    lost = [c for c in key_cols if ours is not None and c not in ours.columns]
    if ours is None or lost:
        detail = f"no results table {ours_name}" if ours is None else f"{ours_name} has no key column {', '.join(lost)}"
        return [claim(k, c, _typed(r[c]), None, None, MISSING, detail) for (k, _), r in zip(exp_keys, exp_rows)
                for c in values]

    our_rows = ours.to_dict("records")
    our_keys = keyed(our_rows)
    index = {norm: i for i, (_, norm) in enumerate(our_keys)}
    claims = []
    for (k, norm), row in zip(exp_keys, exp_rows):
        j = index.get(norm)
        for column in values:
            exp, tol = _typed(row[column]), spec.tolerance.get(column, 0.0)
            if j is None or column not in ours.columns:
                claims.append(claim(k, column, exp, None, None, MISSING,
                                    "row not in our table" if j is None else "column not in our table", tol))
                continue
            got = _typed(our_rows[j][column])
            if isinstance(exp, float) and isinstance(got, float):
                claims.append(claim(k, column, exp, got, got - exp, PASS if within(exp, got, tol) else FAIL, tol=tol))
            else:
                claims.append(claim(k, column, exp, got, None, PASS if exp == got else FAIL, tol=tol))
    known = {norm for _, norm in exp_keys}
    seen = Counter(norm for _, norm in our_keys)
    for k, norm in our_keys:
        if norm not in known:
            claims.append(claim(k, "(row)", "absent", "present", None, FAIL,
                                "row not in the smoke reference: update the reference if the change is intended"))
        elif seen[norm] > 1:
            claims.append(claim(k, "(row)", "once", "repeated", None, FAIL, "our table repeats this key"))
    for column in ours.columns:
        if column not in expected.columns and column not in spec.ignore:
            claims.append(claim("", column, "absent", "present", None, FAIL,
                                "column not in the smoke reference: update the reference if the change is intended"))
    return claims


def _typed(text: str) -> float | str:
    """A cell as a float when it holds a number (an empty cell is NaN, as pandas writes it), else the text."""
    if text.strip() == "":
        return float("nan")
    number = to_number(text)
    return number if number is not None else text


def update_reference(results_dir: str | Path, reference: str | Path | None = None) -> dict[str, str]:
    """Copy the smoke tables into the committed reference (timing columns dropped).

    Every table declared in `notebooks.toml` must exist. Reference tables no longer declared are removed.
    Returns {table id: "new" | "changed" | "unchanged" | "removed"}.
    """
    ref_dir = Path(reference) if reference else reference_dir()
    specs = load_tolerances(ref_dir / "tolerances.toml")
    folder = tables_dir("smoke", results_dir)
    ids = declared_tables()
    if not ids:
        raise CheckError("minerals/resources/notebooks.toml declares no tables: nothing to take as reference")
    absent = [t for t in ids if not (folder / f"{t}.csv").exists()]
    if absent:
        raise CheckError(f"no smoke table {', '.join(absent)} in {folder}: run `minerals reproduce --profile smoke` first")
    outcome, frames = {}, {}
    for table_id in ids:  # validate everything before writing anything
        spec = specs.get(table_id, TableSpec(ignore=specs[""].ignore))
        df = read_table(folder / f"{table_id}.csv")
        frames[table_id] = df[[c for c in df.columns if c not in spec.ignore]]
        lost = [c for c in spec.key if c not in df.columns]
        if lost:
            raise CheckError(f"{folder / f'{table_id}.csv'} has no key column {', '.join(lost)} that "
                             f"{ref_dir / 'tolerances.toml'} declares for [{table_id}]; fix the key there")
        if spec.key and df.duplicated(list(spec.key)).any():
            raise CheckError(f"{folder / f'{table_id}.csv'}: rows are not unique on the key {list(spec.key)} "
                             f"declared in {ref_dir / 'tolerances.toml'}; extend the key")
    for table_id, df in frames.items():
        target = ref_dir / f"{table_id}.csv"
        old = target.read_text(encoding="utf-8") if target.exists() else None
        with atomic_write(target) as tmp:
            df.to_csv(tmp, index=False, lineterminator="\n")
            new = tmp.read_text(encoding="utf-8")
        outcome[table_id] = "new" if old is None else "unchanged" if old == new else "changed"
    for stale in sorted(ref_dir.glob("*.csv")):
        if stale.stem not in ids:
            stale.unlink()
            outcome[stale.stem] = "removed"
    return outcome


# ---------------------------------------------------------------------------------------------- API

def compare(profile: str, results_dir: str | Path = "results") -> list[Claim]:
    """All claims of a profile: `smoke` against the committed smoke tables, `paper` against the ledger."""
    if profile == "smoke":
        return compare_smoke(results_dir)
    if profile == "paper":
        return compare_paper(results_dir)
    raise CheckError(f"unknown profile {profile!r} for the check; choose one of: {', '.join(PROFILES)}")


def counts(claims: list[Claim]) -> dict[str, int]:
    """Number of claims per status (every status present, zero when none)."""
    out = dict.fromkeys(STATUSES, 0)
    for c in claims:
        out[c.status] += 1
    return out


def passed(claims: list[Claim]) -> bool:
    """True when something was checked and nothing failed or is missing."""
    n = counts(claims)
    return bool(claims) and n[FAIL] == 0 and n[MISSING] == 0


def summary_line(claims: list[Claim]) -> str:
    """One sentence for the top of the book, e.g. `Smoke profile: 42 of 42 numbers reproduce; 0 fail; ...`."""
    n = counts(claims)
    profile = claims[0].profile if claims else "smoke"
    untranscribed = (n[NOT_TRANSCRIBED] if profile == "paper"
                     else sum(row.value is None for row in load_ledger()))
    compared = n[PASS] + n[FAIL] + n[MISSING]
    subject = "numbers" if profile == "smoke" else "transcribed paper numbers"
    return (f"{profile.capitalize()} profile: {n[PASS]} of {compared} {subject} reproduce; {n[FAIL]} fail; "
            f"{n[MISSING]} missing; {untranscribed} paper numbers not transcribed yet.")


def to_json(claims: list[Claim], profile: str, results_dir: str | Path) -> dict:
    """One JSON-able object: profile, summary, counts, ok, and every claim (NaN as null)."""
    def clean(value):
        return None if isinstance(value, float) and not math.isfinite(value) else value

    return {"profile": profile, "results": str(Path(results_dir).expanduser().resolve()),
            "summary": summary_line(claims) if claims else "nothing to check", "counts": counts(claims),
            "ok": passed(claims),
            "claims": [{"claim": c.name, **{k: clean(v) for k, v in c.__dict__.items()}} for c in claims]}


def _clip(text: str, width: int = 32) -> str:
    """Long text values (messages, paths) shortened for the aligned listing; --json keeps them whole."""
    return text if len(text) <= width else text[:width - 1] + "…"


def format_lines(claims: list[Claim]) -> str:
    """Plain text, one aligned line per claim: status, claim, expected, ours, delta, detail."""
    header = ("status", "claim", "expected", "ours", "delta", "")
    rows = [(c.status.upper() if c.status == FAIL else c.status, c.name, _clip(format_value(c.expected)),
             _clip(format_value(c.ours)), "" if c.delta is None else f"{c.delta:+.6g}", c.detail) for c in claims]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    return "\n".join(("  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths)) + "  " + row[5]).rstrip()
                     for row in [header, *rows])


# ---------------------------------------------------------------------------------------------- report

STATUS_MARK = {PASS: "pass", FAIL: "**FAIL**", MISSING: "*missing*", NOT_TRANSCRIBED: "not transcribed"}


def _cell(value) -> str:
    """A value as a Markdown table cell (pipes escaped, backticks and newlines neutralised)."""
    return format_value(value).replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _code(text: str) -> str:
    """Inline code in a table cell (pipes still need escaping there)."""
    return f"`{text.replace('`', chr(39)).replace('|', chr(92) + '|')}`" if text else ""


def _expected(c: Claim) -> str:
    if c.expected is None:
        return ""
    return _cell(c.expected) + (f" ({_cell(c.tolerance)})" if c.tolerance.startswith("±") else "")


def _claims_table(claims: list[Claim]) -> list[str]:
    """A Markdown table of claims; a detail shared by every claim is said once above it."""
    details = {c.detail for c in claims}
    shared = details.pop() if len(details) == 1 else None
    head = ["key", "metric", "expected", "ours", "delta", "status"] + ([] if shared is not None else ["note"])
    lines = ([f"*{_cell(shared)}*", ""] if shared else []) + ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in claims:
        cells = [_code(c.key), _code(c.metric), _expected(c), _cell(c.ours),
                 "" if c.delta is None or math.isnan(c.delta) else _cell(f"{c.delta:+.4g}"), STATUS_MARK[c.status]]
        if shared is None:
            cells.append(_cell(c.detail))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _ledger_table(rows: list[LedgerRow]) -> list[str]:
    lines = ["| key | metric | paper value | unit | tolerance | note |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join([_code(r.key_text), _code(r.metric), _cell(r.text) or "not transcribed",
                                         _cell(r.unit), _cell(format_value(r.tolerance)), _cell(r.note)]) + " |")
    return lines


def render_markdown(claims: list[Claim], profile: str) -> str:
    """The "Reproduction report" page (MyST markdown): a summary, then one table per results table."""
    n = counts(claims)
    out = ["# Reproduction report", "", f"**{summary_line(claims) if claims else 'Nothing was checked.'}**", ""]
    if profile == "smoke":
        out += ["The `smoke` profile runs on synthetic photos with tiny or offline models, so its numbers are "
                "compared with the **committed smoke reference tables** (`minerals/resources/smoke_reference/`), "
                "not with the paper: a change here means the code's behaviour changed. Values must match exactly "
                "unless a tolerance is declared for the column; timing columns are not compared. Each table below "
                "lists only the values that differ. The paper's own numbers are listed at the end; they are "
                "checked by the `paper` profile.", ""]
    else:
        out += ["The `paper` profile runs on the real MineralImage5k release; each number below is the paper's "
                "published value (from the ledger `minerals/resources/ledger.csv`, in the paper's unit) beside "
                "ours. *Not transcribed* means the ledger row exists but its value has not yet been copied "
                "from the paper; *missing* means we have no such number yet.", ""]
    out += ["## Summary", "", "| table | claims | pass | fail | missing | not transcribed |", "|---|---|---|---|---|---|"]
    tables = list(dict.fromkeys(c.table for c in claims))
    for t in tables:
        m = counts([c for c in claims if c.table == t])
        out.append(f"| {_code(t)} | {sum(m.values())} | {m[PASS]} | {m[FAIL]} | {m[MISSING]} | {m[NOT_TRANSCRIBED]} |")
    out.append(f"| all | {len(claims)} | {n[PASS]} | {n[FAIL]} | {n[MISSING]} | {n[NOT_TRANSCRIBED]} |")
    out.append("")
    for t in tables:
        subset = [c for c in claims if c.table == t]
        places = list(dict.fromkeys(c.where for c in subset if c.where))
        title = f"`{t}`" + (f": {'; '.join(places)}" if profile == "paper" and places else "")
        out += [f"## {title}", ""]
        if profile == "smoke" and subset[0].metric == TABLE_CLAIM:
            out += [f"**No reference table** {_code(subset[0].where)} yet: run "
                    "`minerals check --profile smoke --update-reference` once this table is right.", ""]
            continue
        if profile == "smoke":  # the values themselves are on the section pages: show what differs
            shown = [c for c in subset if c.status != PASS]
            out += [f"{len(subset) - len(shown)} of {len(subset)} values match the reference "
                    f"`{_cell(subset[0].where)}`." + (" The others:" if shown else ""), ""]
        else:
            shown = subset
        out += (_claims_table(shown) + [""]) if shown else []
    if profile == "smoke":
        ledger = load_ledger()
        out += ["## The paper's numbers", "",
                "What the ledger holds today, checked only by `minerals check --profile paper` on the real "
                "release. Add a number by filling its `paper_value` in `minerals/resources/ledger.csv`.", ""]
        for t in dict.fromkeys(r.table for r in ledger):
            rows = [r for r in ledger if r.table == t]
            places = "; ".join(dict.fromkeys(r.where for r in rows if r.where))
            out += [f"### `{t}`" + (f": {places}" if places else ""), ""] + _ledger_table(rows) + [""]
    return "\n".join(out).rstrip() + "\n"
