"""`minerals identify`: one pass over photos, error entries for bad files, CAM location, CLI, report figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from minerals.cam.methods import ForwardCounter
from minerals.cli import main
from minerals.data.images import ImageError, load_image
from minerals.identify.identifier import ERROR, OK, IdentifyConfig, IdentifyError, Identifier, fewshot_classifier
from minerals.size.result import SizeEstimate
from minerals.zeroshot.scoring import ClassListError, read_classes

RED, GREEN, GREY = (220, 30, 30), (30, 200, 30), (128, 128, 128)
CLASSES = ["Redite", "Greenite"]


class ColourNet(nn.Module):
    """Hand-built classifier: class 0 = mean red excess, class 1 = mean green/blue excess (inputs in [-1, 1])."""

    def __init__(self):
        super().__init__()
        conv = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            conv.weight[:] = torch.tensor([[1.0, -0.5, -0.5], [-1.0, 0.5, 0.5]])[:, :, None, None]
        self.layer4 = nn.Sequential(conv, nn.ReLU())  # `layer4` is the CAM target layer of ResNet-like models
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.fc.weight[:] = 10 * torch.eye(2)
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.layer4(x).mean(dim=(2, 3)))


INFO = {"model": "colournet", "classes": CLASSES, "resolution": 64, "mean": [0.5] * 3, "std": [0.5] * 3}


def photo(path, colour=RED, box=(10, 10, 50, 40), size=(128, 96)):
    """A grey photo with one coloured rectangle `box` = (x0, y0, x1, y1); saved as PNG."""
    arr = np.full((size[1], size[0], 3), GREY, np.uint8)
    x0, y0, x1, y1 = box
    arr[y0:y1, x0:x1] = colour
    Image.fromarray(arr).save(path)
    return path


def fake_measure(path, method, max_side):
    """Stand-in for minerals.size: decodes like it, and always 'measures' a square outline."""
    try:
        rgb = np.asarray(load_image(path, max_side=max_side))
    except ImageError as exc:
        return SizeEstimate().abstain(f"unreadable image: {exc}"), None, 1.0
    outline = np.array([[20, 20], [60, 20], [60, 60], [20, 60]], float)
    est = SizeEstimate(size_cm=3.0, cm_per_px=0.05, cube_side_px=25.4, confidence=0.9, outline=outline,
                       extent=((20.0, 20.0), (60.0, 60.0)))
    return est, rgb, 1.0


@pytest.fixture
def classifier():
    torch.manual_seed(0)
    return fewshot_classifier(ColourNet(), INFO)


def test_top_species_and_cam_follow_the_coloured_region(tmp_path, classifier):
    red = photo(tmp_path / "red.png", RED, box=(5, 5, 45, 40))
    green = photo(tmp_path / "green.png", GREEN, box=(80, 50, 124, 92))
    items = list(Identifier(classifier, IdentifyConfig(top_k=5), measure=fake_measure).run([red, green],
                                                                                           progress=False))
    assert [it.record["status"] for it in items] == [OK, OK]
    for item, species, (x0, y0, x1, y1) in zip(items, CLASSES, [(5, 5, 45, 40), (80, 50, 124, 92)]):
        rec = item.record
        assert [t["species"] for t in rec["top"]][0] == species
        assert len(rec["top"]) == 2  # k is capped at the class count
        scores = [t["score"] for t in rec["top"]]
        assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-5
        assert rec["cam"]["species"] == species
        bx0, by0, bx1, by1 = rec["cam"]["box"]  # the CAM mask sits on the coloured rectangle
        assert abs(bx0 - x0) <= 8 and abs(by0 - y0) <= 8 and abs(bx1 - x1) <= 8 and abs(by1 - y1) <= 8
        assert item.cam.shape == (96, 128) and 0 <= item.cam.min() and item.cam.max() <= 1
        assert rec["mask"]["source"] == "size" and rec["mask"]["box"] == [20.0, 20.0, 61.0, 61.0]
        assert rec["size"] == {"method": "improved", "size_cm": 3.0, "cm_per_px": 0.05, "cube_side_px": 25.4,
                               "confidence": 0.9, "status": "ok", "cube_kind": None, "cube_trusted": False}
        assert (rec["width"], rec["height"]) == (128, 96)


def test_bad_files_get_error_entries_and_the_rest_is_processed(tmp_path, classifier, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)
    good = [photo(tmp_path / f"good{i}.png", RED if i % 2 else GREEN) for i in range(3)]
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    tiny = photo(tmp_path / "tiny.png", size=(40, 30), box=(1, 1, 5, 5))
    huge = photo(tmp_path / "huge.png", size=(300, 200))
    missing = tmp_path / "missing.jpg"
    inputs = [good[0], text, empty, good[1], tiny, huge, missing, good[2]]
    out = tmp_path / "out"
    items = list(Identifier(classifier, IdentifyConfig(batch_size=2)).run(inputs, out_dir=out, progress=False))
    assert [it.record["path"] for it in items] == [str(p) for p in inputs]
    statuses = {p.name: it.record["status"] for p, it in zip(inputs, items)}
    assert statuses == {"good0.png": OK, "notes.jpg": ERROR, "empty.png": ERROR, "good1.png": OK, "tiny.png": ERROR,
                        "huge.png": ERROR, "missing.jpg": ERROR, "good2.png": OK}
    for p, it in zip(inputs, items):
        if it.record["status"] == ERROR:
            assert p.name in it.record["error"]
    assert "too small" in items[4].record["error"] and "decompression bomb" in items[5].record["error"]
    for it in (items[0], items[3], items[7]):  # the real size module ran on these: a status either way
        assert it.record["size"]["status"]
        report, mask = it.record["report"], it.record["mask"]["file"]
        assert open(report, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        with Image.open(mask) as m:
            assert m.size == (128, 96) and set(np.unique(np.asarray(m))) <= {0, 255}
    json.dumps([it.record for it in items])  # every record is JSON-able


def test_batch_size_changes_cost_not_results(tmp_path, classifier):
    paths = [photo(tmp_path / f"p{i}.png", RED if i % 2 else GREEN, box=(5 + 10 * i, 5, 45 + 10 * i, 50))
             for i in range(5)]
    runs = {}
    for bs in (1, 3):
        with ForwardCounter(classifier.model) as counter:
            items = list(Identifier(classifier, IdentifyConfig(batch_size=bs), measure=fake_measure).run(
                paths, progress=False))
        runs[bs] = (items, counter.calls)
    # one scoring forward and one CAM forward per batch
    assert runs[1][1] == 2 * 5 and runs[3][1] == 2 * 2
    for a, b in zip(runs[1][0], runs[3][0]):
        assert [t["species"] for t in a.record["top"]] == [t["species"] for t in b.record["top"]]
        np.testing.assert_allclose([t["score"] for t in a.record["top"]], [t["score"] for t in b.record["top"]],
                                   atol=1e-5)
        np.testing.assert_allclose(a.cam, b.cam, atol=1e-4)


def test_zero_shot_clip_over_a_class_list_warns_about_random_weights(tmp_path):
    from minerals.models.clip import load_clip
    from minerals.identify.identifier import zeroshot_classifier
    from minerals.zeroshot.prompts import ensemble_templates
    from minerals.zeroshot.section import text_classifier

    classes = ["Quartz", "Calcite", "Pyrite"]
    bundle = load_clip("minerals-tiny")
    clf = zeroshot_classifier(bundle, classes, "mineral", cache_dir=tmp_path / "cache")
    assert "not meaningful" in clf.warning
    images = [Image.open(photo(tmp_path / f"{c}.png", c)).convert("RGB") for c in (RED, GREEN)]
    weights = text_classifier(bundle, classes, ensemble_templates("mineral"), progress=False)
    features = bundle.encode_images(torch.stack([bundle.preprocess(im) for im in images]))
    expected = torch.softmax(bundle.model.logit_scale.detach().exp() * features @ weights, dim=-1).numpy()
    np.testing.assert_allclose(clf.probabilities(images), expected, atol=1e-5)
    items = list(Identifier(clf, IdentifyConfig(top_k=3), measure=fake_measure).run(
        [photo(tmp_path / "a.png")], progress=False))
    rec = items[0].record
    assert rec["status"] == OK and len(rec["top"]) == 3 and "not meaningful" in rec["warning"]
    assert items[0].cam.shape == (96, 128)


def test_read_classes(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("# species\nquartz\n\n  Calcite  # common\nPYRITE\n", encoding="utf-8")
    assert read_classes(path) == ["Quartz", "Calcite", "Pyrite"]
    path.write_text("Quartz\nquartz\n", encoding="utf-8")
    with pytest.raises(ClassListError, match="more than once"):
        read_classes(path)
    path.write_text("Quartz\n", encoding="utf-8")
    with pytest.raises(ClassListError, match="at least two"):
        read_classes(path)
    with pytest.raises(ClassListError, match="missing.txt"):
        read_classes(tmp_path / "missing.txt")


def test_config_rejects_unknown_settings():
    assert IdentifyConfig.from_section({"top_k": 3}, top_k=None).top_k == 3
    with pytest.raises(IdentifyError, match="topk"):
        IdentifyConfig.from_section({"topk": 3})
    with pytest.raises(IdentifyError, match="CAM method"):
        IdentifyConfig.from_section({}, cam_method="magiccam")
    with pytest.raises(IdentifyError, match="cam_threshold"):
        IdentifyConfig.from_section({"cam_threshold": "median"})


def test_report_figure_draws_good_photos_only(tmp_path, classifier):
    from minerals.identify.report import report_figure

    items = list(Identifier(classifier, measure=fake_measure).run(
        [photo(tmp_path / "a.png"), tmp_path / "missing.png"], progress=False))
    fig = report_figure(items, title="demo")
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="no successfully identified"):
        report_figure(items[1:])


def test_report_figure_fits_the_book_column(tmp_path, classifier):
    """Two photos: a 2 x 2 block each, no wider than the column at 120 dpi x 2, every text >= 9 pt there."""
    from minerals.identify.report import report_figure
    from minerals.pipeline.session import BOOK_COLUMN_PX, small_text

    paths = [photo(tmp_path / "a.png"), photo(tmp_path / "b.png", GREEN, size=(64, 160))]
    fig = report_figure(list(Identifier(classifier, measure=fake_measure).run(paths, progress=False)),
                        title="a long title " * 3)
    assert len(fig.axes) == 8
    assert fig.get_figwidth() * 120 <= 2 * BOOK_COLUMN_PX
    assert small_text(fig) == []
    assert small_text(fig, min_pt=20)  # the check itself sees the labels


@pytest.fixture
def checkpoint(tmp_path):
    """A few-shot checkpoint of timm's tiny `test_efficientnet` (random weights), in the fewshot format."""
    from minerals.fewshot.train import save_checkpoint
    from minerals.models.classifiers import create_classifier

    torch.manual_seed(0)
    model = create_classifier("test_efficientnet", 3)
    info = {"model": "test_efficientnet", "pretrained": False, "subset": 3, "classes": ["Beryl", "Galena", "Quartz"],
            "num_classes": 3, "resolution": 64, "mean": [0.5] * 3, "std": [0.5] * 3, "crop_pct": 1.0}
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "info": info})
    return path


def test_cli_json_lines_reports_and_error_entries(tmp_path, checkpoint, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    photo(folder / "a.png")
    photo(folder / "b.png", GREEN)
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    out = tmp_path / "out"
    code = main(["identify", str(folder), str(bad), "--classifier", str(checkpoint), "--top", "2", "--json",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in lines] == [OK, OK, ERROR]
    assert all(len(r["top"]) == 2 for r in lines[:2])
    assert sorted(p.name for p in out.iterdir()) == ["0001_a.mask.png", "0001_a.png", "0002_b.mask.png",
                                                     "0002_b.png", "identify.jsonl"]
    assert [json.loads(x) for x in (out / "identify.jsonl").read_text().splitlines()] == lines


def test_cli_errors_are_one_line(tmp_path, checkpoint, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    assert main(["identify", str(bad), "--classifier", str(checkpoint), "--no-progress"]) == 1
    assert "none of the 1 photos" in capsys.readouterr().err
    assert main(["identify", str(bad), "--classifier", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err
    assert main(["identify", str(bad), "--clip", "minerals-tiny"]) == 2
    assert "--classes" in capsys.readouterr().err
    assert main(["identify", str(bad), "--classifier", str(checkpoint), "--classes", "x.txt"]) == 2
    assert "--clip" in capsys.readouterr().err


def test_a_failure_after_scoring_is_an_error_entry_for_that_photo_only(tmp_path, classifier, monkeypatch):
    import minerals.identify.identifier as identify

    real = identify.write_report

    def flaky(item, path, dpi=100):
        if "b.png" in item.record["path"]:
            raise OSError("disk full")
        return real(item, path, dpi)

    monkeypatch.setattr(identify, "write_report", flaky)
    paths = [photo(tmp_path / n) for n in ("a.png", "b.png", "c.png")]
    items = list(Identifier(classifier, measure=fake_measure).run(paths, out_dir=tmp_path / "out", progress=False))
    assert [it.record["status"] for it in items] == [OK, ERROR, OK]
    assert "disk full" in items[1].record["error"] and "b.png" in items[1].record["error"]


@pytest.mark.parametrize("name", ["smoke", "paper"])
def test_profile_identify_tables_are_valid(name):
    from minerals.profiles import load_profile

    cfg = IdentifyConfig.from_section(load_profile(name).section("identify"))
    assert cfg.top_k >= 1 and cfg.demo_photos >= 1


def test_a_checkpoint_trained_on_synthetic_photos_says_so(tmp_path, checkpoint):
    import torch

    from minerals.identify.classifiers import load_fewshot

    assert load_fewshot(checkpoint).warning is None  # no provenance recorded: nothing claimed
    payload = torch.load(checkpoint, weights_only=True)
    payload["info"]["data"] = {"synthetic": True, "root": "synthetic"}
    torch.save(payload, tmp_path / "synthetic.pt")
    assert "synthetic" in load_fewshot(tmp_path / "synthetic.pt").warning


def test_zeroshot_classify_and_identify_give_the_same_probabilities(tmp_path, capsys):
    """One scoring path: the same photo, class list and CLIP give the same ranking and probabilities."""
    classes = tmp_path / "classes.txt"
    classes.write_text("fluorite\nQuartz\ncalcite \n", encoding="utf-8")
    path = photo(tmp_path / "a.png", GREEN)
    assert main(["zeroshot", "classify", str(path), "--model", "minerals-tiny", "--classes", str(classes),
                 "--top", "3", "--json"]) == 0
    classify = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")][0]["top"]
    assert main(["identify", str(path), "--model", "clip:minerals-tiny", "--classes", str(classes), "--top", "3",
                 "--json", "--out", str(tmp_path / "out")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    identify = [{"class": r["species"], "prob": r["score"]} for r in lines[0]["top"]]
    assert [r["class"] for r in classify] == [r["class"] for r in identify]
    assert {r["class"] for r in classify} == {"Fluorite", "Quartz", "Calcite"}
    np.testing.assert_allclose([r["prob"] for r in classify], [r["prob"] for r in identify], atol=1e-4)



def test_the_section_identifies_the_demo_photos_and_an_error_entry(tmp_path, tiny_release, classifier, monkeypatch):
    from types import SimpleNamespace

    import minerals.identify.identifier as identifier
    from minerals.identify import section

    monkeypatch.setattr(section, "classifier", lambda session: classifier)
    monkeypatch.setattr(identifier, "measure_photo", fake_measure)
    session = SimpleNamespace(release=tiny_release, seed=0, device="cpu", artifacts=lambda name: tmp_path)
    cfg = IdentifyConfig(demo_photos=3, top_k=2)
    table = section.run(session, cfg)["identify"]
    assert table["status"].tolist() == [OK] * 3 + [ERROR] and table["photo"].iat[-1] == "notes.jpg"
    assert table["true_species"].notna().sum() == 3  # the demo photos carry their truth
    records = [json.loads(line) for line in section.records_path(session).read_text(encoding="utf-8").splitlines()]
    assert [r["status"] for r in records] == table["status"].tolist()
    items = section.report_items(session, cfg, n=2)
    assert [it.record["path"] for it in items] == [r["path"] for r in records[:2]]
    assert all(it.rgb is not None and it.cam.shape == it.rgb.shape[:2] for it in items)
