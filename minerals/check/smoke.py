"""The `smoke` profile against its committed reference tables (`minerals/resources/smoke_reference/`).

Two modes, chosen from the machine class each run recorded (`minerals.runtime.machine_class`) against
the one the reference was written with (`smoke_reference/machine.json`):

- **exact** — same kernel class (architecture, ATen ISA, oneDNN/MKL/OpenBLAS code paths, threads,
  torch and oneDNN versions, device): every value must equal the reference bit for bit (floats up to
  a CSV round trip), unless `tolerances.toml` declares an absolute tolerance for its column.
- **statistical** — another class (no AVX2, ARM, a GPU, another torch, the pin switched off): a
  number passes when it is within its own sampling noise of the reference (`minerals.check.rules`);
  counts, names and configuration stay exact.

`mode="auto"` (the default) takes exact when the classes agree. When they agree but some numbers still
differ in their bits (a CPU of the same class that computes differently, which the class does not
capture), the check says so and judges those numbers within sampling noise instead of failing a
correct run; `mode="exact"` makes any difference fail.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from minerals import results
from minerals.check.core import (EXACT, FAIL, INFO, MISSING, PASS, REFERENCE_NAME, STATISTICAL, TABLE_CLAIM,
                                 CheckError, Claim, Claims, declared_tables, format_key, format_value, normalise,
                                 read_table, reference_dir, tables_dir, to_number, within)
from minerals.check.rules import TableSpec, load_tolerances, noise_band, referenced_columns
from minerals.runtime import class_differences

MACHINE_FILE = "machine.json"
MODES = ("auto", EXACT, STATISTICAL)


# ---------------------------------------------------------------------------------------------- machines

def run_machines(results_dir: str | Path, profile: str = "smoke") -> dict[str, dict]:
    """{notebook id: machine class} from `<results>/<profile>/runs/notebooks/*.json` (empty when none)."""
    folder = tables_dir(profile, results_dir).parent / "runs" / "notebooks"
    out = {}
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CheckError(f"{path}: corrupt run record ({exc}); rerun that notebook") from exc
        if isinstance(record.get("machine"), dict):
            out[path.stem] = record["machine"]
    return out


def reference_machines(ref_dir: Path) -> dict[str, dict]:
    """{notebook id: machine class} the reference tables were written with (empty when not recorded)."""
    path = ref_dir / MACHINE_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckError(f"{path}: not JSON ({exc}); rewrite it with `minerals check --profile smoke "
                         "--update-reference`") from exc
    if not isinstance(data, dict) or data.get("profile", "smoke") != "smoke" or not isinstance(data.get("notebooks"), dict):
        raise CheckError(f"{path}: not a smoke reference machine record (needs profile = smoke and notebooks)")
    return data["notebooks"]


def choose_mode(ours: dict[str, dict], reference: dict[str, dict]) -> tuple[str, str]:
    """(exact | statistical, why) from the machine classes of our runs and of the reference's."""
    if not reference:
        return STATISTICAL, "the reference records no machine class"
    if not ours:
        return STATISTICAL, "the results record no machine class (runs of an older version)"
    differences = []
    for notebook, ref in reference.items():
        if notebook in ours:
            differences += [f"{notebook}: {d}" for d in class_differences(ours[notebook], ref)]
    if differences:
        fields = sorted({d.split(": ", 1)[1].split(" ", 1)[0] for d in differences})
        sample = next(d for d in differences)
        return STATISTICAL, f"this machine differs from the reference in {', '.join(fields)} ({sample})"
    ref_cpu = next(iter(reference.values())).get("cpu", "?")
    our_cpu = next(iter(ours.values())).get("cpu", "?")
    return EXACT, (f"same kernel class as the reference: {_class_text(next(iter(ours.values())))}; this CPU "
                   f"{our_cpu}, the reference's {ref_cpu}")


def _class_text(machine: dict) -> str:
    return (f"{machine.get('arch', '?')} {machine.get('device', '?')}, ATen {machine.get('aten_isa', '?')}, "
            f"{machine.get('threads', '?')} threads, torch {machine.get('torch', '?')}")


# ---------------------------------------------------------------------------------------------- compare

def compare_smoke(results_dir: str | Path, reference: str | Path | None = None, mode: str = "auto") -> Claims:
    """Claims for every cell of every smoke reference table (and every declared table without one)."""
    if mode not in MODES:
        raise CheckError(f"unknown check mode {mode!r}; choose one of: {', '.join(MODES)}")
    ref_dir = Path(reference) if reference else reference_dir()
    specs = load_tolerances(ref_dir / "tolerances.toml")
    folder = tables_dir("smoke", results_dir)
    if not folder.is_dir():
        raise CheckError(f"{folder}: no smoke tables here; run `minerals reproduce --profile smoke` first "
                         "(or pass --results DIR)")
    if mode == "auto":
        chosen, reason = choose_mode(run_machines(results_dir), reference_machines(ref_dir))
    else:
        chosen, reason = mode, f"--mode {mode} was asked for"
    claims = _compare_all(ref_dir, specs, folder, chosen)
    if mode == "auto" and chosen == EXACT:
        drifted = [c for c in claims if c.exact is False and c.status != INFO]
        if drifted:
            reason = (f"{reason}; but {len(drifted)} numbers differ from the reference in their bits, so this CPU "
                      "computes differently within its kernel class: compared within sampling noise instead")
            chosen = STATISTICAL
            claims = _compare_all(ref_dir, specs, folder, chosen)
    return Claims(claims, mode=chosen, reason=reason)


def _compare_all(ref_dir: Path, specs: dict, folder: Path, mode: str) -> list[Claim]:
    """Claims of every reference table (and a missing-claim per declared table without one)."""
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
        spec = specs.get(table_id, TableSpec(ignore=specs[""].ignore, z=specs[""].z))
        ours = read_table(ours_path) if ours_path.exists() else None
        claims += compare_tables(table_id, read_table(ref_path), ours, spec, where=where,
                                 ours_name=f"smoke/tables/{ours_path.name}", mode=mode)
    return claims


def compare_tables(table_id: str, expected: pd.DataFrame, ours: pd.DataFrame | None, spec: TableSpec,
                   where: str = "", ours_name: str = "ours", mode: str = EXACT) -> list[Claim]:
    """Cell-by-cell claims of one table; rows matched on `spec.key` (by position when no key is declared).

    Both tables are read as strings (`read_table`). Rows or columns of ours that the reference lacks
    fail, so that a stale reference is noticed. In `exact` mode a number must equal the reference; in
    `statistical` mode it must lie within its rule's band. A number that differs in its bits but lies
    within the band gets `exact=False` and passes in statistical mode only. Informational columns are
    shown with status `informational` and never fail.
    """
    key_cols = list(spec.key)
    absent = [c for c in [*key_cols, *sorted(referenced_columns(spec))] if c not in expected.columns]
    if absent:
        raise CheckError(f"{where}: column(s) {', '.join(absent)} named in tolerances.toml for [{table_id}] are not "
                         "in the reference table; fix tolerances.toml or update the reference")
    values = [c for c in expected.columns if c not in key_cols and c not in spec.ignore]
    exp_rows = expected.to_dict("records")

    def claim(key, metric, exp, got, delta, status, detail="", tol=0.0, **extra):
        text = extra.pop("tolerance", None) or (f"±{format_value(tol)}" if tol else "exact")
        return Claim("smoke", table_id, key, metric, exp, got, delta, status, text, where, detail, **extra)

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
            if j is None and mode != EXACT and spec.retrained(row):
                claims.append(claim(k, column, exp, None, None, INFO,
                                    "informational here: a row of a network trained on this machine, not in ours", tol))
                continue
            if j is None or column not in ours.columns:
                claims.append(claim(k, column, exp, None, None, MISSING,
                                    "row not in our table" if j is None else "column not in our table", tol))
                continue
            claims.append(_cell_claim(claim, spec, k, column, row, exp, _typed(our_rows[j][column]), tol, mode))
    known = {norm for _, norm in exp_keys}
    seen = Counter(norm for _, norm in our_keys)
    for (k, norm), our_row in zip(our_keys, our_rows):
        if norm not in known:
            retrained = mode != EXACT and spec.retrained(our_row)
            claims.append(claim(k, "(row)", "absent", "present", None, INFO if retrained else FAIL,
                                "informational here: a row of a network trained on this machine" if retrained else
                                "row not in the smoke reference: update the reference if the change is intended"))
        elif seen[norm] > 1:
            claims.append(claim(k, "(row)", "once", "repeated", None, FAIL, "our table repeats this key"))
    for column in ours.columns:
        if column not in expected.columns and column not in spec.ignore:
            claims.append(claim("", column, "absent", "present", None, FAIL,
                                "column not in the smoke reference: update the reference if the change is intended"))
    return claims


def _cell_claim(claim, spec: TableSpec, key: str, column: str, row: dict, exp, got, tol: float, mode: str) -> Claim:
    """One value: exact (or within the declared tolerance), else its statistical band in that mode."""
    rule = spec.noise.get(column)
    if not (isinstance(exp, float) and isinstance(got, float)):
        same = exp == got
        info = rule is not None and rule.kind == "informational" and mode != EXACT
        status = INFO if info else PASS if same else FAIL
        return claim(key, column, exp, got, None, status, "" if status != INFO else "informational: not checked",
                     tol, exact=same)
    delta = got - exp
    same = within(exp, got, tol)
    if rule is not None and rule.kind == "informational" and mode != EXACT:
        return claim(key, column, exp, got, delta, INFO, "informational: not checked", tol, exact=same)
    if mode != EXACT and column != spec.n and spec.retrained(row):  # every number of the row but its photo count
        return claim(key, column, exp, got, delta, INFO, "informational here: a network trained on this machine",
                     tol, exact=same)
    band = noise_band(spec, column, row) if rule is not None else None
    if mode == EXACT or band is None:
        return claim(key, column, exp, got, delta, PASS if same else FAIL, tol=tol, exact=same,
                     n=band.n if band else None)
    ok = same or within(exp, got, band.allowed)
    return claim(key, column, exp, got, delta, PASS if ok else FAIL, tol=tol,
                 tolerance=f"±{format_value(band.allowed)} ({band.rule})", allowed=band.allowed, n=band.n, exact=same)


def _typed(text: str) -> float | str:
    """A cell as a float when it holds a number (an empty cell is NaN, as pandas writes it), else the text."""
    if text.strip() == "":
        return float("nan")
    number = to_number(text)
    return number if number is not None else text


# ---------------------------------------------------------------------------------------------- update

def update_reference(results_dir: str | Path, reference: str | Path | None = None) -> dict[str, str]:
    """Copy the smoke tables into the committed reference (ignored columns dropped), with their machine class.

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
        lost = [c for c in [*spec.key, *sorted(referenced_columns(spec))] if c not in df.columns]
        if lost:
            raise CheckError(f"{folder / f'{table_id}.csv'} has no column {', '.join(lost)} that "
                             f"{ref_dir / 'tolerances.toml'} names for [{table_id}]; fix it there")
        if spec.key and df.duplicated(list(spec.key)).any():
            raise CheckError(f"{folder / f'{table_id}.csv'}: rows are not unique on the key {list(spec.key)} "
                             f"declared in {ref_dir / 'tolerances.toml'}; extend the key")
    for table_id, df in frames.items():
        target = ref_dir / f"{table_id}.csv"
        old = target.read_text(encoding="utf-8") if target.exists() else None
        with results.atomic_write(target) as tmp:
            df.to_csv(tmp, index=False, lineterminator="\n")
            new = tmp.read_text(encoding="utf-8")
        outcome[table_id] = "new" if old is None else "unchanged" if old == new else "changed"
    machines = run_machines(results_dir)
    if machines:
        results.write_json(ref_dir / MACHINE_FILE, {"profile": "smoke", "notebooks": machines})
    for stale in sorted(ref_dir.glob("*.csv")):
        if stale.stem not in ids:
            stale.unlink()
            outcome[stale.stem] = "removed"
    return outcome
