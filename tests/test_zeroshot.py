"""The zero-shot harness, proven with hand-built encoders whose answers are known."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from data_fixture import SPECIES, make_release
from minerals import metrics
from minerals.data.splits import k_per_class
from minerals.zeroshot import prompts
from minerals.zeroshot import section as zeroshot
from minerals.cli import main
from minerals.models.clip import ClipBundle
from minerals.data import open_release
from minerals.profiles import available_profiles, load_profile
from minerals.results import RunStore

# make_release paints class c with the mean colour (40 + 50c, 200 - 40c, 100).
COLOURS = {en: (40 + 50 * c, 200 - 40 * c, 100) for c, (en, _) in enumerate(SPECIES)}


class ColourCLIP(torch.nn.Module):
    """Image tower: the mean colour of the photo; text tower: the colour of the species named in the prompt.

    `shift` maps species i's prompts to species i + shift's colour (shift 0: every answer right).
    """

    def __init__(self, names: list[str], shift: int = 0):
        super().__init__()
        table = torch.tensor([COLOURS[n] for n in names], dtype=torch.float32) / 255 - 0.5
        self.register_buffer("table", table.roll(-shift, dims=0))
        self.image_calls = 0
        self.text_calls = 0

    def encode_image(self, x):
        self.image_calls += 1
        return x.mean(dim=(2, 3)) - 0.5

    def encode_text(self, tokens):
        self.text_calls += 1
        return self.table[tokens]


def colour_bundle(names: list[str], shift: int = 0) -> ClipBundle:
    def preprocess(img):
        return torch.from_numpy(np.asarray(img.resize((16, 16)), dtype=np.float32) / 255).permute(2, 0, 1)

    def tokenizer(texts):
        return torch.tensor([next(i for i, n in enumerate(names) if n.lower() in t.lower()) for t in texts])

    return ClipBundle(model=ColourCLIP(names, shift), preprocess=preprocess, tokenizer=tokenizer, name="colour",
                      tag=f"shift{shift}", preprocess_cfg={"size": 16})


@pytest.fixture
def photos(tmp_path):
    """Three photos of each of 4 species, painted in the species' colour; labels in SPECIES order."""
    paths, labels = [], []
    for c, (en, _) in enumerate(SPECIES[:4]):
        for k in range(3):
            path = tmp_path / "img" / f"{en}_{k}.jpg"
            path.parent.mkdir(exist_ok=True)
            rng = np.random.default_rng(10 * c + k)
            arr = np.clip(np.array(COLOURS[en]) + rng.normal(0, 10, (24, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(path, quality=92)
            paths.append(path)
            labels.append(c)
    return paths, np.array(labels), [en for en, _ in SPECIES[:4]]


# --- known answers ------------------------------------------------------------------------------

def test_colour_clip_is_always_right(photos):
    paths, labels, names = photos
    bundle = colour_bundle(names)
    feats = zeroshot.image_features(bundle, paths, batch_size=5, progress=False)
    weights = zeroshot.text_classifier(bundle, names, ["a photo of {}.", "{}"], progress=False)
    assert feats.shape == (12, 3) and weights.shape == (3, 4)
    out, scores = zeroshot.evaluate(feats, weights, labels)
    assert out["top1"] == out["balanced_acc"] == 1.0 and out["per_class_recall"] == [1.0] * 4
    assert (scores.preds == labels).all()


def test_shifted_text_tower_is_always_wrong_and_topk_counts_ranks(photos):
    paths, labels, names = photos
    bundle = colour_bundle(names, shift=1)
    feats = zeroshot.image_features(bundle, paths, progress=False)
    out, scores = zeroshot.evaluate(feats, zeroshot.text_classifier(bundle, names, ["{}"], progress=False), labels)
    assert out["top1"] == 0.0 and out["balanced_acc"] == 0.0
    # Class c's column holds colour c + 1, so a photo of colour c lands in column c - 1.
    assert (scores.preds == (labels - 1) % 4).all()
    assert out["top10"] == 1.0 and out["top1"] <= out["top3"] <= out["top5"] <= out["top10"]


def test_scores_match_a_dense_reference_in_any_block_size():
    rng = np.random.default_rng(0)
    feats = torch.nn.functional.normalize(torch.randn(300, 16), dim=-1)
    weights = torch.nn.functional.normalize(torch.randn(16, 5139), dim=0)
    labels = rng.integers(0, 5139, 300)
    dense = (100 * feats @ weights).numpy()
    expect = metrics.topk_accuracy(dense, labels)
    for block in (7, 1024):
        got = zeroshot.score(feats, weights, labels, block=block)
        assert {f"top{k}": float(v.mean()) for k, v in got.hits.items()} == expect
        assert (got.top == metrics.topk_predictions(dense, 10)).all()
        assert np.allclose(got.prob.sum(axis=1) <= 1 + 1e-6, True)


def test_examples_pick_right_and_wrong(photos):
    paths, labels, names = photos
    bundle = colour_bundle(names, shift=0)
    feats = zeroshot.image_features(bundle, paths, progress=False)
    _, scores = zeroshot.evaluate(feats, zeroshot.text_classifier(bundle, names, ["{}"], progress=False), labels)
    ex = zeroshot.examples(scores, labels, [str(p) for p in paths], names, n=2, seed=0, k=3)
    assert [e["kind"] for e in ex] == ["right", "right"]
    assert all(e["top"][0] == e["true"] and len(e["top"]) == 3 for e in ex)


# --- caches -------------------------------------------------------------------------------------

def test_text_classifier_is_cached_by_classes_and_templates(photos, tmp_path):
    _, _, names = photos
    bundle = colour_bundle(names)
    first = zeroshot.text_classifier(bundle, names, ["{}", "a {}."], tmp_path, batch_size=3, progress=False)
    calls = bundle.model.text_calls
    assert calls == 3  # 8 prompts in batches of 3
    again = zeroshot.text_classifier(bundle, names, ["{}", "a {}."], tmp_path, progress=False)
    assert bundle.model.text_calls == calls and torch.equal(first, again)
    zeroshot.text_classifier(bundle, names, ["{}"], tmp_path, progress=False)
    zeroshot.text_classifier(bundle, names[::-1], ["{}", "a {}."], tmp_path, progress=False)
    assert bundle.model.text_calls == calls + 2
    assert len(list(tmp_path.glob("text-*.pt"))) == 3


def test_extra_prompts_join_the_class_mean(photos):
    _, _, names = photos
    bundle = colour_bundle(names)
    plain = zeroshot.text_classifier(bundle, names, ["{}"], progress=False)
    # A description naming another species pulls class 0 halfway towards it.
    extra = [[f"looks like {names[1]}"], [], [], []]
    mixed = zeroshot.text_classifier(bundle, names, ["{}"], extra_prompts=extra, progress=False)
    expect = torch.nn.functional.normalize(plain[:, 0] + plain[:, 1], dim=0)
    assert torch.allclose(mixed[:, 0], expect, atol=1e-6) and torch.equal(mixed[:, 1:], plain[:, 1:])
    with pytest.raises(ValueError, match="no prompts"):
        zeroshot.text_classifier(bundle, names, [], progress=False)


def test_image_features_resume_from_shards(photos, tmp_path, monkeypatch):
    paths, _, names = photos
    monkeypatch.setattr(zeroshot, "SHARD", 5)
    bundle = colour_bundle(names)
    cache = tmp_path / "cache"
    first = zeroshot.image_features(bundle, paths, cache, batch_size=2, progress=False)
    shards = sorted(cache.rglob("*.npy"))
    assert len(shards) == 3 and bundle.model.image_calls == 7  # 5 + 5 + 2 photos in batches of 2
    shards[1].unlink()
    again = zeroshot.image_features(bundle, paths, cache, batch_size=2, progress=False)
    assert bundle.model.image_calls == 7 + 3 and torch.equal(first, again)
    # A changed photo is a new data identity: everything is recomputed.
    Image.new("RGB", (8, 8), (255, 0, 0)).save(paths[0], quality=50)
    zeroshot.image_features(bundle, paths, cache, batch_size=2, progress=False)
    assert bundle.model.image_calls == 10 + 7


def test_uncacheable_dataset_is_refused(photos, tmp_path):
    _, _, names = photos

    class NoPaths(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return torch.zeros(3, 16, 16)

    assert zeroshot.image_features(colour_bundle(names), NoPaths(), progress=False).shape == (1, 3)
    with pytest.raises(ValueError, match="has no .paths"):
        zeroshot.image_features(colour_bundle(names), NoPaths(), tmp_path, progress=False)


# --- probe --------------------------------------------------------------------------------------

def test_k_per_class_is_seeded():
    labels = np.array([0] * 5 + [1] * 2 + [2] * 9)
    idx = k_per_class(labels, 4, seed=3)
    assert np.bincount(labels[idx]).tolist() == [4, 2, 4]
    assert (idx == k_per_class(labels, 4, seed=3)).all()
    assert len(k_per_class(labels, 0, seed=0)) == len(labels)


def test_linear_probe_learns_separable_and_not_random_labels():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 8)) * 4

    def draw(n):
        y = np.repeat(np.arange(5), n)
        return centres[y] + rng.normal(size=(len(y), 8)), y

    train, val, test = draw(10), draw(4), draw(6)
    good = zeroshot.linear_probe(train, val, test, 5, k=4)
    assert good["top1"] == 1.0 and good["n_train"] == 20
    shuffled = (train[0], rng.permutation(train[1]))
    noise = zeroshot.linear_probe(shuffled, val, test, 5, k=0)
    assert noise["top1"] < 0.6


# --- prompts and names --------------------------------------------------------------------------

def test_prompt_library():
    assert len(prompts.ensemble_templates("openai80")) == 80
    assert prompts.ensemble_templates("bare") == ["{}"]
    both = prompts.ensemble_templates("mineral+openai80")
    assert len(both) == len(set(both)) == len(prompts.ensemble_templates("mineral")) + 80
    assert prompts.uses_descriptions("mineral+descriptions") and not prompts.uses_descriptions("mineral")
    with pytest.raises(prompts.PromptError, match="unknown prompt ensemble"):
        prompts.ensemble_templates("nope")


def test_names_are_normalised_and_merged():
    names, new = prompts.normalise_classes(["quartz", "Quartz ", "Antimonite", "Stibnite", "SULPHUR", "Beryl"])
    assert names == ["Beryl", "Quartz", "Stibnite", "Sulfur"] and new == [1, 1, 2, 2, 3, 0]
    assert prompts.odd_names(["Quartz", "Кварц", "Pyrite 2"]) == ["Кварц", "Pyrite 2"]
    ru = prompts.russian_names(["Antimonite", "Stibnite"], ["", "Антимонит"], ["Stibnite"], [0, 0])
    assert ru == ["Антимонит"]


def test_descriptions_drop_sizes_and_keep_class_text():
    frame = pd.DataFrame({"label": [0, 0, 1, 1], "description": ["12x8.5 cm. Druse of crystals", "Druse of crystals",
                                                                  "3 cm", "4х5 см, green crystals"]})
    assert prompts.class_descriptions(frame) == {0: ["Druse of crystals"], 1: ["green crystals"]}


def test_profiles_parse_and_name_known_ensembles():
    for name in available_profiles():
        cfg = zeroshot.ZeroShotConfig.from_section(load_profile(name).section("zeroshot"))
        for spec in cfg.models:
            for ens in spec.ensembles or cfg.ensembles:
                prompts.ensemble_templates(ens)
    with pytest.raises(ValueError, match="unknown setting"):
        zeroshot.ZeroShotConfig.from_section({"modles": []})


# --- the section grid ---------------------------------------------------------------------------

@pytest.fixture
def release(tmp_path):
    return open_release(make_release(tmp_path / "rel", classes=4, per_class=12, subsets=(3,), size=(64, 48)))


CFG = {"subsets": [3, "full"], "ensembles": ["bare", "mineral"], "ablation_subsets": [3], "probe_subsets": [3],
       "probe_k": [1, 0], "examples": 2}


def test_run_with_colour_clip_gets_everything_right(release, tmp_path, monkeypatch):
    names = [en for en, _ in SPECIES[:4]]
    monkeypatch.setattr(zeroshot, "load_clip", lambda *a, **k: colour_bundle(names))
    cfg = zeroshot.ZeroShotConfig.from_section(CFG)
    tables = zeroshot.run_grid(release, cfg, RunStore(tmp_path / "runs"), tmp_path / "art")
    zs = tables["zeroshot"]
    assert list(zs.columns) == ["subset", "model", "pretrained", "templates", "n_classes", "n_images", "top1", "top3",
                                "top5", "top10", "balanced_acc"]
    assert zs["top1"].eq(1.0).all() and zs["balanced_acc"].eq(1.0).all()
    assert zs.set_index("subset")["n_classes"].to_dict() == {"3": 3, "full": 4}
    assert zs.set_index("subset")["n_images"].to_dict()["full"] == 48
    assert list(tables["clip_probe"].columns[:6]) == ["subset", "model", "pretrained", "k", "top1", "top5"]
    assert tables["clip_probe"]["k"].tolist() == ["1", "all"] and tables["clip_probe"]["top1"].eq(1.0).all()
    assert tables["zeroshot_templates"]["top1"].eq(1.0).all()
    assert len(tables["zeroshot_templates"]) == len(prompts.ensemble_templates("mineral"))


def test_run_tiny_clip_monotone_and_resumes(release, tmp_path, monkeypatch):
    cfg = zeroshot.ZeroShotConfig.from_section(CFG)
    store = RunStore(tmp_path / "runs")
    tables = zeroshot.run_grid(release, cfg, store, tmp_path / "art")
    for row in tables["zeroshot"].itertuples():
        assert row.top1 <= row.top3 <= row.top5 <= row.top10
    assert (tables["zeroshot"]["pretrained"] == "random").all()

    def refuse(*a, **k):
        raise AssertionError("a finished grid must not load a model")

    monkeypatch.setattr(zeroshot, "load_clip", refuse)
    again = zeroshot.run_grid(release, cfg, store, tmp_path / "art")
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], again[name])


# --- CLI ----------------------------------------------------------------------------------------

def test_cli_classify_reports_bad_files_and_continues(photos, tmp_path, capsys):
    paths, _, names = photos
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(names) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    code = main(["zeroshot", "classify", str(paths[0]), str(bad), "--model", "minerals-tiny", "--classes",
                 str(classes), "--top", "3", "--json"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert code == 0 and len(out) == 2
    assert len(out[0]["top"]) == 3 and {r["class"] for r in out[0]["top"]} <= set(names)
    assert "bad.jpg" in out[1]["error"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    code = main(["zeroshot", "classify", "x.jpg", "--model", "ViT-Q-99", "--classes", str(tmp_path / "none.txt")])
    assert code == 2 and "cannot read the class list" in capsys.readouterr().err


def test_cli_names(release, capsys):
    assert main(["zeroshot", "names", "--data-root", str(release.root)]) == 0
    assert "4 raw English names -> 4 species" in capsys.readouterr().out


def test_bincount_recall_metrics_match_sklearn():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        y, p = rng.integers(0, 7, 50), rng.integers(0, 9, 50)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns when p names classes absent from y
            expect = balanced_accuracy_score(y, p)
        assert metrics.balanced_accuracy(y, p) == pytest.approx(expect, abs=1e-12)
    assert np.isnan(metrics.per_class_recall(np.array([0, 0]), np.array([0, 1]), 3)[2])
