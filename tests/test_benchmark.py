"""The benchmark: official split files, scoring of predictions files, refusals of bad files."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from minerals.benchmark import SubmissionError, evaluate, splits


def _write(tmp_path, name, frame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_split_file_hash_is_sha256_of_the_written_csv(tiny_release, tmp_path):
    frame = splits.split_frame(tiny_release, "classification", 10, "test")
    digest = splits.write_split(frame, tmp_path / "test.csv")
    assert digest == hashlib.sha256((tmp_path / "test.csv").read_bytes()).hexdigest() == splits.split_hash(frame)
    assert list(frame.columns) == ["id", "path", "en_name", "label"]
    subset = tiny_release.subset(10)
    assert set(frame["id"]) == set(subset.loc[subset["split"] == "test", "id"].astype(str))
    assert not frame["path"].str.startswith("/").any()  # relative: the same hash on every machine


def test_oracle_scores_one_and_shuffled_near_chance(tiny_release, tmp_path):
    frame = splits.split_frame(tiny_release, "classification", 10, "all")
    oracle = _write(tmp_path, "oracle.csv", pd.DataFrame({"id": frame["id"], "rank_1": frame["en_name"].str.lower()}))
    record = evaluate("classification", oracle, tiny_release, subset=10, split="all", ks=(1,), n_boot=50)
    assert record["metrics"]["top1"] == 1.0 and record["metrics"]["balanced_acc"] == 1.0
    assert record["split_sha256"] == splits.split_hash(frame)
    rng = np.random.default_rng(0)
    shuffled = _write(tmp_path, "shuffled.csv", pd.DataFrame({"id": frame["id"],
                                                              "rank_1": rng.permutation(frame["en_name"].to_numpy())}))
    top1 = evaluate("classification", shuffled, tiny_release, subset=10, split="all", ks=(1,), n_boot=50)
    assert abs(top1["metrics"]["top1"] - 1 / 6) < 0.15


def test_class_indices_with_labels(tiny_release, tmp_path):
    frame = splits.split_frame(tiny_release, "classification", 10, "test")
    ranks = {f"rank_{j + 1}": (frame["label"] + j) % 6 for j in range(6)}
    path = _write(tmp_path, "labels.csv", pd.DataFrame({"id": frame["id"], **ranks}))
    m = evaluate("classification", path, tiny_release, subset=10, labels=True, n_boot=50)["metrics"]
    assert m["top1"] == m["top3"] == m["top10"] == 1.0


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.assign(id=["999999"] + f["id"].tolist()[1:]), "ids not in the split: 999999"),
    (lambda f: f.iloc[1:], "missing ids: "),
    (lambda f: pd.concat([f, f.iloc[:1]]), "duplicate ids: "),
    (lambda f: f.assign(rank_1=["Unobtainium"] + f["rank_1"].tolist()[1:]), "unknown species: Unobtainium"),
])
def test_bad_classification_files_are_refused_in_one_line(tiny_release, tmp_path, edit, message):
    frame = splits.split_frame(tiny_release, "classification", 10, "test")
    good = pd.DataFrame({"id": frame["id"], "rank_1": frame["en_name"]})
    path = _write(tmp_path, "bad.csv", edit(good))
    with pytest.raises(SubmissionError, match=message) as err:
        evaluate("classification", path, tiny_release, subset=10, ks=(1,), n_boot=10)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_fewer_ranks_than_k_says_which_k_can_be_scored(tiny_release, tmp_path):
    frame = splits.split_frame(tiny_release, "classification", 10, "test")
    path = _write(tmp_path, "short.csv", pd.DataFrame({"id": frame["id"], "rank_1": frame["en_name"],
                                                       "rank_2": frame["en_name"], "rank_3": frame["en_name"]}))
    with pytest.raises(SubmissionError, match=r"3 ranks, fewer than top-5 needs \(5\).*k = 1, 3 can be scored"):
        evaluate("classification", path, tiny_release, subset=10, n_boot=10)


def test_size_file_abstains_and_refuses_bad_sizes(tiny_release, tmp_path):
    frame = splits.size_frame(tiny_release)
    truth = tiny_release.size_table()["size_cm"].to_numpy()
    sizes = [""] + [f"{v:.3f}" for v in truth[1:]]
    path = _write(tmp_path, "sizes.csv", pd.DataFrame({"id": frame["id"], "size_cm": sizes}))
    m = evaluate("size", path, tiny_release, n_boot=20)["metrics"]
    assert m["coverage"] == pytest.approx((len(truth) - 1) / len(truth)) and m["mae_cm"] < 1e-3
    for bad, message in (("-1", "sizes must be > 0"), ("big", "not a number")):
        path = _write(tmp_path, "bad.csv", pd.DataFrame({"id": frame["id"], "size_cm": [bad] + sizes[1:]}))
        with pytest.raises(SubmissionError, match=message):
            evaluate("size", path, tiny_release, n_boot=20)


def test_segmentation_truth_scores_one_and_wrong_size_is_refused(tiny_release, tmp_path):
    from PIL import Image

    from minerals.data.images import load_mask

    pairs = splits.segmentation_pairs(tiny_release, 3)
    folder = tmp_path / "masks"
    folder.mkdir()
    for photo, mask in pairs:
        Image.fromarray(load_mask(mask).astype(np.uint8) * 255).save(folder / f"{photo.stem}.png")
    m = evaluate("segmentation", folder, tiny_release, max_images=3, max_side=128, n_boot=20)["metrics"]
    assert m["miou"] == 1.0 and m["n"] == 3
    Image.new("L", (7, 5)).save(folder / f"{pairs[0][0].stem}.png")
    with pytest.raises(SubmissionError, match="masks of the wrong size: " + pairs[0][0].stem):
        evaluate("segmentation", folder, tiny_release, max_images=3, max_side=128, n_boot=20)


def test_cli_unknown_id_exits_non_zero_and_names_it(tiny_release_root, tmp_path, capsys):
    from minerals.cli import main
    from minerals.data import open_release

    frame = splits.split_frame(open_release(tiny_release_root), "classification", 10, "test")
    path = _write(tmp_path, "p.csv", pd.DataFrame({"id": ["424242"] + frame["id"].tolist()[1:],
                                                   "rank_1": frame["en_name"]}))
    code = main(["evaluate", "classification", str(path), "--subset", "10", "--ks", "1", "--data-root",
                 str(tiny_release_root), "--results", str(tmp_path / "results")])
    assert code != 0 and "424242" in capsys.readouterr().err
