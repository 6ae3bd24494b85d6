"""The book's generated front page and the figure text check, on hand-made tables (no notebook run)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from minerals.pipeline import book  # noqa: E402
from minerals.pipeline.session import BOOK_STYLE, small_text  # noqa: E402


def test_front_page_numbers_come_from_the_tables(tmp_path):
    (tmp_path / "tables").mkdir()
    pd.DataFrame({"subset": [10, 10], "model": ["m", "m"], "pretrained": [True, False], "resolution": [96, 96],
                  "top1": [0.4321, 0.1], "top1_ci_low": [0.3, 0.05], "top1_ci_high": [0.5, 0.2], "top5": [0.9, 0.5],
                  "n_test": [120, 120]}).to_csv(tmp_path / "tables" / "fewshot.csv", index=False)
    pd.DataFrame({"method": ["baseline", "improved"], "n": [50, 50], "coverage": [0.1, 0.98], "mape": [0.3, 0.0567],
                  "mape_low": [0.2, 0.04], "mape_high": [0.4, 0.07]}).to_csv(tmp_path / "tables" / "size.csv", index=False)
    page = book.front_page("smoke", tmp_path)
    assert "top-1 **43.2 %** (95 % CI 30.0 %–50.0 %)" in page
    assert "MAPE **5.7 %**" in page and "98.0 % of 50 photos" in page
    assert page.count("synthetic photos and tiny or untrained models") == 1
    assert "*not run*" in page  # zero-shot and segmentation tables are absent
    assert "minerals/resources/ledger.csv" in page


def test_small_text_flags_text_that_the_column_shrinks():
    with matplotlib.rc_context(BOOK_STYLE):
        narrow, ax = plt.subplots(figsize=(7, 4))
        ax.plot([0, 1])
        wide, ax = plt.subplots(figsize=(16, 7))
        ax.plot([0, 1])
        ax.set_title("a title", fontsize=8)
    assert small_text(narrow) == []
    assert any("'a title'" in t for t in small_text(wide)) and len(small_text(wide)) > 3  # title and ticks
    plt.close("all")


def test_small_text_skips_the_ticks_of_axes_turned_off():
    with matplotlib.rc_context(BOOK_STYLE):
        fig, (image, plot) = plt.subplots(1, 2, figsize=(7, 3))
        image.imshow([[0, 1], [1, 0]])
        image.tick_params(labelsize=5)
        image.axis("off")  # its 5 pt ticks are not drawn
        plot.plot([0, 1])
    assert small_text(fig) == []
    image.axis("on")
    assert small_text(fig)  # drawn again: the 5 pt ticks are flagged
    plt.close("all")


def test_save_figure_refuses_small_text(tmp_path, monkeypatch):
    import pytest

    from minerals.pipeline import session

    monkeypatch.setattr(session, "notebook_registry", lambda: {"99_demo": {"title": "demo", "figures": ["f"]}})
    s = session.start("99_demo", "paper", str(tmp_path), "cpu", 0, tmp_path / "results")
    wide, ax = plt.subplots(figsize=(16, 7))
    ax.set_title("a title", fontsize=8)
    refused = r"figure 'f' of notebook 99_demo \(16.0 in wide\) has \d+ text\(s\) below 9 pt"
    with pytest.raises(session.SessionError, match=refused):
        s.save_figure("f", wide)
    assert not (tmp_path / "results/paper/figures/f.png").exists()
    narrow, ax = plt.subplots(figsize=(7, 4))
    assert s.save_figure("f", narrow).is_file()
    plt.close("all")


def test_staged_notebooks_drop_the_injected_parameters(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("profile = 'smoke'", metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell("# Parameters\ndata_root = '/root/.cache/x'",
                                                                   metadata={"tags": ["injected-parameters"]})])
    nbformat.write(nb, tmp_path / "in.ipynb")
    book.stage_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb")
    tags = [c.metadata.get("tags") for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells]
    assert tags == [["parameters"], ["injected-parameters", "remove-cell"]]
