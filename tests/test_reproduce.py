"""The notebook pipeline: selection, failures named by notebook and cell, the CLI's one-line errors."""

from __future__ import annotations

import pytest

from minerals.cli import main
from minerals.pipeline.reproduce import ReproduceError, execute, select_notebooks

NOTEBOOK = '''# %% tags=["parameters"]
value = 1

# %%
x = value + 1

# %%
if x == 3:
    raise ValueError("boom at three")
'''


def test_select_by_id_name_and_number():
    assert select_notebooks(["02_few_shot"]) == ["02_few_shot"]
    assert select_notebooks(["size", "1"]) == ["01_dataset", "04_size"]
    assert select_notebooks(None)[0] == "01_dataset"
    with pytest.raises(ReproduceError, match="unknown notebook 'nope'"):
        select_notebooks(["nope"])


def test_execute_injects_parameters_and_names_the_failing_cell(tmp_path):
    (tmp_path / "99_boom.py").write_text(NOTEBOOK)
    out = tmp_path / "out" / "99_boom.ipynb"
    run = execute("99_boom", {"value": 1}, out, progress=False, source_dir=tmp_path)
    assert out.exists() and run.wall_s > 0
    with pytest.raises(ReproduceError, match=r"99_boom failed in cell \d+ .*ValueError: boom at three"):
        execute("99_boom", {"value": 2}, out, progress=False, source_dir=tmp_path)
    assert out.with_suffix(".failed.ipynb").exists()


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "--profile", "nonsense"], "unknown profile 'nonsense'"),
    (["reproduce", "--only", "nope"], "unknown notebook 'nope'"),
    (["reproduce", "--profile", "paper"], "minerals data download"),
])
def test_cli_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
