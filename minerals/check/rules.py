"""How each smoke table is compared: `smoke_reference/tolerances.toml`.

Per table: `key` (columns that identify a row), `ignore` (never compared: timings), `tolerance`
(an absolute tolerance per column, for columns that vary between runs of one commit on one machine),
and `noise`: the statistical rule of each column, used when the run cannot be bit-exact (another CPU
kernel class, a GPU, another torch) and always against the paper's numbers. A rule derives the
number's standard error (SE) from the data behind it, and the number passes when it differs from the
expected one by at most `z` standard errors (`[rules].z`, the same for every rule):

- `binomial` / `binomial:COLUMN` — a proportion over n photos, n in the row's COLUMN (default: the
  table's `n`). SE = sqrt(p (1 - p) / (n + 4)) with the Agresti–Coull p = (x + 2) / (n + 4), so a
  proportion of 0 or 1 still has a band of about one photo.
- `bootstrap:LOW:HIGH` — a statistic with a 95 % bootstrap percentile interval in the row's LOW and
  HIGH columns (computed over its photos by the section): SE = (HIGH - LOW) / (2 × 1.96). Its bounds
  take the same rule.
- `informational` — exact on the reference's kernel class, shown but not checked elsewhere: a number
  that rests on one photo (identify's single-photo answers), is chosen by an arg-max over near-ties
  (the best epoch), or is a bound of an interval (a bootstrap quantile over changed predictions moves
  more than the statistic it brackets; the statistic itself is checked against the interval's width).
  Give the reason in a comment.

Every other column (counts, names, configuration) is compared exactly in both modes.

`retrained_rows = { COLUMN = "PATTERN" or ["PATTERN", ...] }` (fnmatch patterns; a row matches when
every column matches one of its patterns) marks rows whose numbers come from a network trained in the
same run (the few-shot checkpoint's CAMs): under another kernel class the training itself amplifies
the last bits into a different network, a change that the photos' sampling noise does not describe.
Those rows are exact on the reference's class and informational elsewhere, including whether they
are there at all (a row named by an arg-max over such numbers may be replaced by another).
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from minerals.check.core import CheckError, to_number

Z_95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
RULE_KINDS = ("binomial", "bootstrap", "informational")
TABLE_ENTRIES = {"key", "ignore", "tolerance", "noise", "n", "retrained_rows"}


@dataclass(frozen=True)
class Rule:
    """One column's statistical rule: `kind` with its column arguments."""

    kind: str
    args: tuple = ()

    @property
    def text(self) -> str:
        return ":".join((self.kind, *self.args))


@dataclass(frozen=True)
class TableSpec:
    """How one smoke table is compared: key, ignored columns, absolute tolerances, noise rules, n column."""

    key: tuple = ()
    ignore: frozenset = frozenset()
    tolerance: dict = field(default_factory=dict)
    noise: dict = field(default_factory=dict)  # column -> Rule
    n: str = ""  # the column that holds the photo count of a row
    z: float = 1.0
    retrained_rows: dict = field(default_factory=dict)  # column -> fnmatch pattern

    def retrained(self, row: dict) -> bool:
        """Whether a reference row comes from a network trained in the run (see the module docstring)."""
        return bool(self.retrained_rows) and all(
            any(fnmatch.fnmatchcase(str(row.get(c, "")), p) for p in patterns)
            for c, patterns in self.retrained_rows.items())


@dataclass(frozen=True)
class Band:
    """The statistical band of one number: `allowed` = z × `se`, over `n` photos (None when unknown)."""

    se: float
    allowed: float
    n: int | None
    rule: str


def parse_rule(text: str, where: str) -> Rule:
    """`binomial`, `binomial:n_test`, `bootstrap:miou_low:miou_high` or `informational`."""
    kind, *args = [p.strip() for p in str(text).split(":")]
    arity = {"binomial": (0, 1), "bootstrap": (2, 2), "informational": (0, 0)}
    if kind not in arity:
        raise CheckError(f"{where}: unknown rule {text!r}; use one of binomial[:N], bootstrap:LOW:HIGH, informational")
    lo, hi = arity[kind]
    if not lo <= len(args) <= hi or any(not a for a in args):
        raise CheckError(f"{where}: rule {text!r} takes {lo if lo == hi else f'{lo} to {hi}'} column name(s) after "
                         f"{kind!r}")
    return Rule(kind, tuple(args))


def load_tolerances(path: str | Path | None = None) -> dict[str, TableSpec]:
    """`tolerances.toml` -> {table id: TableSpec}; `""` holds the defaults every table inherits."""
    from minerals.check.core import reference_dir

    path = Path(path) if path else reference_dir() / "tolerances.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CheckError(f"{path}: cannot read the smoke tolerances ({exc})") from exc
    defaults = data.pop("defaults", {})
    rules = data.pop("rules", {})
    z = to_number(rules.get("z", 1.0))
    if z is None or not z > 0 or set(rules) - {"z"}:
        raise CheckError(f"{path}: [rules] holds only z, a number > 0 (standard errors allowed); got {rules}")
    ignore = frozenset(defaults.get("ignore", []))
    specs = {"": TableSpec(ignore=ignore, z=z)}
    for table, entry in data.items():
        unknown = set(entry) - TABLE_ENTRIES if isinstance(entry, dict) else {"(not a table)"}
        if unknown:
            raise CheckError(f"{path}: [{table}] may hold only {', '.join(sorted(TABLE_ENTRIES))}; found "
                             f"{', '.join(sorted(unknown))}")
        tolerance = entry.get("tolerance", {})
        bad = {c: v for c, v in tolerance.items() if to_number(v) is None or to_number(v) < 0}
        if bad:
            raise CheckError(f"{path}: [{table}.tolerance] values must be numbers >= 0, got {bad}")
        noise = {c: parse_rule(v, f"{path}: [{table}.noise] {c}") for c, v in entry.get("noise", {}).items()}
        needs_n = [c for c, r in noise.items() if r.kind == "binomial" and not r.args and not entry.get("n")]
        if needs_n:
            raise CheckError(f"{path}: [{table}] rule binomial for {', '.join(needs_n)} needs the photo count: set "
                             f"n = \"COLUMN\" for the table or write binomial:COLUMN")
        specs[table] = TableSpec(key=tuple(entry.get("key", [])), ignore=ignore | frozenset(entry.get("ignore", [])),
                                 tolerance={c: float(v) for c, v in tolerance.items()}, noise=noise,
                                 n=str(entry.get("n", "")), z=z,
                                 retrained_rows={str(c): (v,) if isinstance(v, str) else tuple(map(str, v))
                                                 for c, v in entry.get("retrained_rows", {}).items()})
    return specs


def referenced_columns(spec: TableSpec) -> set[str]:
    """Columns the rules of a table read (n and interval columns): they must exist in the reference."""
    cols = ({spec.n} if spec.n else set()) | set(spec.retrained_rows)
    for rule in spec.noise.values():
        cols.update(rule.args)
    return cols


def noise_band(spec: TableSpec, column: str, row: dict) -> Band | None:
    """The statistical band of `row[column]` under its rule (values read from `row`, the expected row).

    None for a column without a rule (compared exactly), an informational one, or a row whose interval
    cells are empty; raises CheckError when a binomial row lacks its proportion or photo count.
    """
    rule = spec.noise.get(column)
    if rule is None or rule.kind == "informational":
        return None

    def number(name: str) -> float:
        value = to_number(row.get(name, ""))
        if value is None or math.isnan(value):
            raise CheckError(f"rule {rule.text} of column {column}: the row has no number in column {name!r}")
        return value

    n_col = rule.args[0] if rule.kind == "binomial" and rule.args else spec.n
    n = int(number(n_col)) if n_col and to_number(row.get(n_col, "")) is not None else None
    if rule.kind == "binomial":
        if n is None:
            raise CheckError(f"rule {rule.text} of column {column}: no photo count in column {n_col!r}")
        p = min(max(number(column), 0.0), 1.0)
        p_tilde = (p * n + 2) / (n + 4)
        se = math.sqrt(p_tilde * (1 - p_tilde) / (n + 4))
    else:
        bounds = [to_number(row.get(c, "")) for c in rule.args]
        if any(b is None or math.isnan(b) for b in bounds):
            return None  # this row has no interval (e.g. a leaderboard row without one): compared exactly
        se = abs(bounds[1] - bounds[0]) / (2 * Z_95)
    return Band(se=se, allowed=spec.z * se, n=n, rule=rule.text)
