"""`verify` and the `minerals data` commands on small releases with planted faults."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from data_fixture import make_release
from minerals.cli import main
from minerals.data.verify import paper_comparison, paper_subsets, verify


def test_paper_table_is_the_published_one():
    table = paper_subsets().set_index("subset")
    assert table.loc["full", "images"] == 44784 and table.loc["10", "min_per_class"] == 462
    assert table.loc["98", "images"] == 23496 and table.loc["size", "images"] == 18076
    assert pd.isna(table.loc["segmentation", "images"])


def test_clean_release(tmp_path):
    make_release(tmp_path)
    report = verify(tmp_path, workers=1, progress=False)
    assert report["images"] == 18 and report["classes"] == 4 and report["problems"] == []
    assert report["subsets"]["3"] == {"classes": 3, "images": 15, "min_per_class": 4,
                                      "splits": {"test": 3, "train": 9, "val": 3}}
    assert report["size"] == 5 and report["segmentation"] == 3 and report["synthetic"] is True
    assert report["schema"]["columns"]["minerals_size.csv"]["size_cm"] == "SIZESM"
    full = next(r for r in report["paper"] if r["subset"] == "full")
    assert full["paper_images"] == 44784 and full["found_images"] == 18 and full["match"] is False
    assert next(r for r in report["paper"] if r["subset"] == "98")["match"] is None


def test_paper_comparison_matches_when_counts_equal():
    counts = {"full": {"classes": 5139, "images": 44784, "min_per_class": 1},
              "subsets": {"10": {"classes": 10, "images": 8549, "min_per_class": 462}}, "size": 18076,
              "segmentation": 107}
    table = paper_comparison(counts).set_index("subset")
    assert table.loc["full", "match"] and table.loc["10", "match"] and table.loc["size", "match"]
    assert table.loc["segmentation", "match"] is None and table.loc["segmentation", "found_images"] == 107
    assert table.loc["98", "match"] is None


def test_faults_are_listed_by_file(tmp_path):
    make_release(tmp_path)
    full = pd.read_csv(tmp_path / "minerals_full.csv")
    images = tmp_path / "mineral_images"
    (images / full.loc[0, "path"]).unlink()  # missing
    (images / full.loc[1, "path"]).write_bytes(b"")  # empty
    data = (images / full.loc[2, "path"]).read_bytes()
    (images / full.loc[2, "path"]).write_bytes(data[: len(data) // 2])  # truncated
    mask = tmp_path / "segm" / "mask" / "S_1.JPG"
    from PIL import Image
    Image.new("RGB", (10, 10)).save(mask)  # wrong size
    report = verify(tmp_path, workers=2, progress=False)
    text = "\n".join(report["problems"])
    assert report["missing"] == [str(images / full.loc[0, "path"])]
    assert "1 files missing" in text
    assert f"{full.loc[1, 'path'].split('/')[-1]}: not a readable image (empty file)" in text
    assert f"{full.loc[2, 'path'].split('/')[-1]}: corrupt or truncated" in text
    assert "S_1.JPG: mask is 10x10 px but its photo is 64x48 px" in text
    assert len(report["corrupt"]) == 3 and len(report["problems"]) == len(set(report["problems"])) == 4


def test_cli_verify_json_and_exit_codes(tmp_path, capsys):
    make_release(tmp_path)
    assert main(["data", "verify", "--root", str(tmp_path), "--json", "--workers", "1"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)  # exactly one JSON object on stdout
    assert {"images", "classes", "subsets", "size", "segmentation", "problems"} <= set(report)
    assert report["subsets"]["3"]["classes"] == 3
    (tmp_path / "mineral_images" / "FMM_7_3600.JPG").unlink()
    assert main(["data", "verify", "--root", str(tmp_path), "--workers", "1"]) == 1
    assert "1 files missing" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "verify", "--root", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minerals data: error:") and "no such folder" in err[0]
    make_release(tmp_path)
    pd.read_csv(tmp_path / "minerals_full.csv").drop(columns=["path"]).to_csv(tmp_path / "minerals_full.csv")
    assert main(["data", "info", "--root", str(tmp_path)]) == 2
    assert "no column for 'path'" in capsys.readouterr().err


def test_cli_info(tmp_path, capsys):
    make_release(tmp_path, full_name="mineral_full.csv")
    assert main(["data", "info", "--root", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["report"]["files"]["full"] == "mineral_full.csv" and info["counts"]["full"]["images"] == 18


def test_cli_download_offline_names_kaggle(tmp_path, capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = main(["data", "download", "--root", str(tmp_path), "--api", f"http://127.0.0.1:{port}/v1/disk",
                 "--retries", "0"])
    assert code == 2 and "sergeynesteruk/minerals" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["data"], ["data", "--help"]])
def test_cli_help(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    out = capsys.readouterr()
    assert "download" in out.out + out.err and "verify" in out.out + out.err


def test_cli_synth_then_verify(tmp_path, capsys):
    root = tmp_path / "synth"
    assert main(["data", "synth", "--root", str(root), "--classes", "2", "--per-class", "2", "--image-size", "96"]) == 0
    assert main(["data", "verify", "--root", str(root), "--json", "--workers", "1"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["synthetic"] and report["classes"] == 2 and report["problems"] == []
    assert main(["data", "synth", "--root", str(root), "--classes", "0"]) == 2
