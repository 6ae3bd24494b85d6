"""What the check tells people: counts, the one-line verdict, the aligned listing, JSON, the book page."""

from __future__ import annotations

import math
from pathlib import Path

from minerals.check.core import (EXACT, FAIL, INFO, MISSING, NOT_TRANSCRIBED, PASS, STATUSES, TABLE_CLAIM, Claim,
                                 format_value)
from minerals.check.ledger import LedgerRow, load_ledger

MODE_MEANING = {
    EXACT: "exact: every number equal to the reference bit for bit",
    "statistical": "within sampling noise: each number within its standard error of the reference, counts "
                   "and names exact",
}


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


def mode_sentence(claims) -> str:
    """How the claims were compared and why, in one sentence ("" for a plain list without a mode)."""
    mode = getattr(claims, "mode", "")
    if not mode:
        return ""
    return f"Mode {MODE_MEANING.get(mode, mode)} ({claims.reason})."


def summary_line(claims: list[Claim]) -> str:
    """One sentence for the top of the book, e.g. `Smoke profile: every one of 1,766 checked numbers reproduces ...`."""
    n = counts(claims)
    profile = claims[0].profile if claims else "smoke"
    untranscribed = (n[NOT_TRANSCRIBED] if profile == "paper"
                     else sum(row.value is None for row in load_ledger()))
    compared = n[PASS] + n[FAIL] + n[MISSING]
    subject = "checked numbers" if profile == "smoke" else "transcribed paper numbers"
    mode = getattr(claims, "mode", "")
    how = {EXACT: " exactly", "statistical": " within sampling noise"}.get(mode, "")
    if compared and n[PASS] == compared:
        head = f"every one of {compared:,} {subject} reproduces{how}"
    else:
        head = f"{n[PASS]:,} of {compared:,} {subject} reproduce{how}; {n[FAIL]:,} fail; {n[MISSING]:,} missing"
    info = f"; {n[INFO]:,} informational (shown, not checked)" if n[INFO] else ""
    return f"{profile.capitalize()} profile: {head}{info}; {untranscribed} paper numbers not transcribed yet."


def to_json(claims: list[Claim], profile: str, results_dir: str | Path) -> dict:
    """One JSON-able object: profile, mode, summary, counts, ok, and every claim (NaN as null)."""
    def clean(value):
        return None if isinstance(value, float) and not math.isfinite(value) else value

    return {"profile": profile, "results": str(Path(results_dir).expanduser().resolve()),
            "mode": getattr(claims, "mode", ""), "mode_reason": getattr(claims, "reason", ""),
            "summary": summary_line(claims) if claims else "nothing to check", "counts": counts(claims),
            "ok": passed(claims),
            "claims": [{"claim": c.name, **{k: clean(v) for k, v in c.__dict__.items()}} for c in claims]}


def _clip(text: str, width: int = 32) -> str:
    """Long text values (messages, paths) shortened for the aligned listing; --json keeps them whole."""
    return text if len(text) <= width else text[:width - 1] + "…"


def _allowed(c: Claim) -> str:
    return "" if c.allowed is None else f"±{c.allowed:.4g}"


def format_lines(claims: list[Claim], everything: bool = False) -> str:
    """Plain text, one aligned line per failed or missing claim (every claim with `everything`).

    Columns: status, claim, expected, ours, delta, allowed, n, detail.
    """
    shown = [c for c in claims if everything or c.status in (FAIL, MISSING)]
    shown.sort(key=lambda c: c.status == PASS)
    header = ("status", "claim", "expected", "ours", "delta", "allowed", "n", "")
    rows = [(c.status.upper() if c.status == FAIL else c.status, c.name, _clip(format_value(c.expected)),
             _clip(format_value(c.ours)), "" if c.delta is None else f"{c.delta:+.6g}", _allowed(c),
             "" if c.n is None else str(c.n), c.detail) for c in shown]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(7)]
    return "\n".join(("  ".join(cell.ljust(w) for cell, w in zip(row[:7], widths)) + "  " + row[7]).rstrip()
                     for row in [header, *rows])


# ---------------------------------------------------------------------------------------------- the page

STATUS_MARK = {PASS: "pass", FAIL: "**FAIL**", MISSING: "*missing*", INFO: "informational",
               NOT_TRANSCRIBED: "not transcribed"}


def _cell(value) -> str:
    """A value as a Markdown table cell (pipes escaped, backticks and newlines neutralised)."""
    return format_value(value).replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _code(text: str) -> str:
    """Inline code in a table cell (pipes still need escaping there)."""
    return f"`{text.replace('`', chr(39)).replace('|', chr(92) + '|')}`" if text else ""


def _claims_table(claims: list[Claim]) -> list[str]:
    """A Markdown table of claims with their band; a detail shared by every claim is said once above it."""
    details = {c.detail for c in claims}
    shared = details.pop() if len(details) == 1 else None
    head = ["table", "key", "metric", "expected", "ours", "delta", "allowed", "n", "status"] + (
        [] if shared is not None else ["note"])
    lines = ([f"*{_cell(shared)}*", ""] if shared else []) + ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in claims:
        cells = [_code(c.table), _code(c.key), _code(c.metric), _cell(c.expected), _cell(c.ours),
                 "" if c.delta is None or math.isnan(c.delta) else _cell(f"{c.delta:+.4g}"),
                 _cell(_allowed(c) or c.tolerance), "" if c.n is None else str(c.n), STATUS_MARK[c.status]]
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


def _summary_table(claims: list[Claim], profile: str) -> list[str]:
    """Per results table: claims and their statuses. The smoke profile's untranscribed paper numbers are
    counted per table from the ledger (they are not smoke claims), so the column matches the headline."""
    ledger_missing = {}
    if profile == "smoke":
        for r in load_ledger():
            if r.value is None:
                ledger_missing[r.table] = ledger_missing.get(r.table, 0) + 1
    out = ["| table | checked | pass | fail | missing | informational | paper numbers not transcribed |",
           "|---|---|---|---|---|---|---|"]
    def row(name: str, m: dict, untranscribed: int) -> str:
        return (f"| {name} | {m[PASS] + m[FAIL] + m[MISSING]} | {m[PASS]} | {m[FAIL]} | {m[MISSING]} | {m[INFO]} | "
                f"{untranscribed} |")

    def untranscribed(m: dict, table: str | None) -> int:
        if profile != "smoke":
            return m[NOT_TRANSCRIBED]
        return ledger_missing.get(table, 0) if table else sum(ledger_missing.values())

    for t in dict.fromkeys([*(c.table for c in claims), *ledger_missing]):
        m = counts([c for c in claims if c.table == t])
        out.append(row(_code(t), m, untranscribed(m, t)))
    total = counts(claims)
    out.append(row("all", total, untranscribed(total, None)))
    return out


def render_markdown(claims: list[Claim], profile: str) -> str:
    """The "Reproduction report" page (MyST markdown): verdict and mode, failures first, counts, the ledger."""
    out = ["# Reproduction report", "", f"**{summary_line(claims) if claims else 'Nothing was checked.'}**", ""]
    if sentence := mode_sentence(claims):
        out += [sentence, ""]
    if profile == "smoke":
        out += ["The `smoke` profile runs on synthetic photos with tiny or offline models, so its numbers are "
                "compared with the **committed smoke reference tables** (`minerals/resources/smoke_reference/`), "
                "not with the paper: a change here means the code's behaviour changed. On a machine of the "
                "reference's kernel class (the profile pins AVX2 kernels and two threads) every number must be "
                "equal; elsewhere each must lie within one standard error of the reference, derived from the "
                "photos behind it (binomial for accuracies, the bootstrap interval for mean IoU and errors), "
                "while counts, names and configuration stay exact. Single-photo answers are shown but not "
                "checked. Timing columns are not compared.", ""]
    else:
        out += ["The `paper` profile runs on the real MineralImage5k release; each number below is the paper's "
                "published value (from the ledger `minerals/resources/ledger.csv`, in the paper's unit) beside "
                "ours, compared within our number's sampling noise. *Not transcribed* means the ledger row exists "
                "but its value has not yet been copied from the paper; *missing* means we have no such number yet.",
                ""]
    bad = [c for c in claims if c.status in (FAIL, MISSING)]
    if bad:
        out += ["## What does not reproduce", ""] + _claims_table(bad) + [""]
    no_reference = [c for c in claims if c.metric == TABLE_CLAIM]
    for c in no_reference:
        out += [f"**No reference table** {_code(c.where)} yet: run "
                "`minerals check --profile smoke --update-reference` once this table is right.", ""]
    out += ["## Counts per table", ""] + _summary_table(claims, profile) + [""]
    if profile == "paper":
        for t in dict.fromkeys(c.table for c in claims):
            subset = [c for c in claims if c.table == t]
            places = "; ".join(dict.fromkeys(c.where for c in subset if c.where))
            out += [f"## `{t}`" + (f": {places}" if places else ""), ""] + _claims_table(subset) + [""]
    else:
        ledger = load_ledger()
        out += ["## The paper's numbers", "",
                "What the ledger holds today, checked only by `minerals check --profile paper` on the real "
                "release. Add a number by filling its `paper_value` in `minerals/resources/ledger.csv`.", ""]
        for t in dict.fromkeys(r.table for r in ledger):
            rows = [r for r in ledger if r.table == t]
            places = "; ".join(dict.fromkeys(r.where for r in rows if r.where))
            out += [f"### `{t}`" + (f": {places}" if places else ""), ""] + _ledger_table(rows) + [""]
    return "\n".join(out).rstrip() + "\n"
