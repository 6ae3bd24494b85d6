"""The reproduction check: regenerated tables against committed expectations, one claim per number.

- `smoke` against `resources/smoke_reference/` (`minerals.check.smoke`): exact on the reference's CPU
  kernel class, within sampling noise elsewhere (rules in `smoke_reference/tolerances.toml`,
  `minerals.check.rules`);
- `paper` against the paper's numbers in `resources/ledger.csv` (`minerals.check.ledger`);
- `minerals.check.report` turns claims into the one-line verdict, the listing and the book's page.
"""

from __future__ import annotations

from pathlib import Path

from minerals.check.core import (EXACT, FAIL, INFO, MISSING, NOT_TRANSCRIBED, PASS, REFERENCE_NAME, STATISTICAL,
                                 STATUSES, CheckError, Claim, Claims, declared_tables, read_table, reference_dir,
                                 tables_dir)
from minerals.check.ledger import compare_paper, load_ledger, paper_table
from minerals.check.report import counts, format_lines, mode_sentence, passed, render_markdown, summary_line, to_json
from minerals.check.rules import TableSpec, load_tolerances
from minerals.check.smoke import MODES, compare_smoke, compare_tables, update_reference

PROFILES = ("smoke", "paper")


def compare(profile: str, results_dir: str | Path = "results", mode: str = "auto",
            reference: str | Path | None = None) -> Claims:
    """All claims of a profile: `smoke` against the committed smoke tables, `paper` against the ledger."""
    if profile == "smoke":
        return compare_smoke(results_dir, reference=reference, mode=mode)
    if profile == "paper":
        return compare_paper(results_dir)
    raise CheckError(f"unknown profile {profile!r} for the check; choose one of: {', '.join(PROFILES)}")


__all__ = ["EXACT", "FAIL", "INFO", "MISSING", "MODES", "NOT_TRANSCRIBED", "PASS", "PROFILES", "REFERENCE_NAME",
           "STATISTICAL", "STATUSES", "CheckError", "Claim", "Claims", "TableSpec", "compare", "compare_paper",
           "compare_smoke", "compare_tables", "counts", "declared_tables", "format_lines", "load_ledger",
           "load_tolerances", "mode_sentence", "paper_table", "passed", "read_table", "reference_dir", "render_markdown",
           "summary_line", "tables_dir", "to_json", "update_reference"]
