"""CAMs (minerals.cam.methods), CAM -> mask (minerals.cam.mask), scoring (minerals.cam.section), `minerals segment`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from minerals.cam.methods import (METHODS, CamError, CamExtractor, ForwardCounter, ReshapeTransform, compute_cams,
                                  find_target_layer, to_batch, token_grid)
from minerals.cam.section import (SegmentationConfig, SegmentationDataError, evaluate, load_samples, score_cams,
                                  summarise)
from minerals.models.clip import PromptHead
from minerals.models.registry import LoadedModel
from minerals.cam.mask import MaskRule, cam_to_mask, largest_component
from minerals.metrics import mask_scores
from minerals.results import RunStore

CHEAP = {"batch_size": 4, "perturbation_batch": 16, "score_channels": 4, "ablation_ratio": 0.1}


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def tiny_cnn():
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_efficientnet", num_classes=3).eval()


class RedDetector(nn.Module):
    """A classifier whose class-1 logit is the mean 'redness' of the image: its CAM must find red things."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, stride=2), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.zero_()
            self.features[0].bias.zero_()
            for c in range(4):  # every channel: red minus green minus blue, at the centre tap
                self.features[0].weight[c, :, 1, 1] = torch.tensor([1.0, -1.0, -1.0]) * (c + 1)
        self.head = nn.Linear(4, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[-1.0] * 4, [1.0] * 4]))
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def _disk_photo(size=96, radius=24, centre=(40, 56), colour=(220, 40, 30)) -> tuple[np.ndarray, np.ndarray]:
    """A grey photo with a noisy coloured disk: (RGB uint8, bool mask)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    mask = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2
    image = np.full((size, size, 3), 120, np.float64) + rng.normal(0, 6, (size, size, 3))
    image[mask] = np.array(colour) + rng.normal(0, 6, (mask.sum(), 3))
    return np.clip(image, 0, 255).astype(np.uint8), mask


# --- target layers and ViT reshapes ----------------------------------------------------------------

@pytest.mark.parametrize("n_tokens, aspect, prefix, expected", [
    (197, 1.0, None, (1, 14, 14)), (196, 1.0, None, (0, 14, 14)), (50, 1.0, None, (1, 7, 7)),
    (1 + 4 + 196, 1.0, None, (5, 14, 14)), (1 + 14 * 20, 14 / 20, None, (1, 14, 20)), (17, 1.0, 1, (1, 4, 4)),
])
def test_token_grid(n_tokens, aspect, prefix, expected):
    assert token_grid(n_tokens, aspect, prefix) == expected


def test_token_grid_rejects_impossible_counts():
    with pytest.raises(CamError, match="cannot lay 19 tokens"):
        token_grid(19, 1.0, prefix=1)


def test_reshape_drops_the_class_token_and_keeps_the_grid_order():
    tokens = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)
    out = ReshapeTransform("tokens", prefix_tokens=None)(tokens)
    assert out.shape == (2, 3, 4, 4)
    assert torch.equal(out[1, 2, 0, 1], tokens[1, 2, 2])  # row 0, column 1 is token 1 + 1
    seq_first = ReshapeTransform("tokens", 1, batch_first=False)(tokens.transpose(0, 1))
    assert torch.equal(seq_first, out)


def test_open_clip_vit_tower_layout():
    """The pinned open_clip ViT: class token first, batch-first tokens, a prompt as the CAM target."""
    import open_clip

    torch.manual_seed(0)
    clip = open_clip.CLIP(embed_dim=32, vision_cfg={"image_size": 64, "patch_size": 16, "width": 64, "layers": 2,
                                                    "head_width": 32},
                          text_cfg={"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1})
    text = torch.randn(3, 32)
    model = PromptHead(clip.visual, text, cosine=False).eval()
    layer = find_target_layer(model)
    assert layer.name == "visual.transformer.resblocks.-1.ln_1"
    assert (layer.layout, layer.prefix_tokens, layer.batch_first) == ("tokens", 1, True)
    seen = []
    handle = layer.module.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    x = torch.randn(2, 3, 64, 64)
    logits = model(x)
    handle.remove()
    assert seen == [(2, 17, 64)]  # 1 class token + a 4 x 4 grid
    expected = clip.visual(x) @ nn.functional.normalize(text, dim=-1).T
    assert torch.allclose(logits, expected, atol=1e-5)
    for method in ("gradcam", "eigencam", "ablationcam"):
        with CamExtractor(model, method, **CHEAP) as cam:
            maps = cam(x, targets=[2, 2])
        assert maps.shape == (2, 64, 64) and 0 <= maps.min() and maps.max() <= 1 + 1e-6
    assert _hooks(model) == 0


@pytest.mark.parametrize("name, expected", [
    ("test_efficientnet", "bn2"), ("test_resnet", "layer4.-1"), ("test_convnext", "stages.-1"),
    ("test_vit", "blocks.-1.norm1"),
])
def test_known_target_layers(name, expected):
    import timm

    assert find_target_layer(timm.create_model(name, num_classes=2)).name == expected


def test_timm_vit_cam_shapes():
    import timm

    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=2, img_size=64).eval()
    with CamExtractor(model, "gradcam") as cam:
        maps = cam(torch.randn(3, 3, 64, 64))
    assert maps.shape == (3, 64, 64) and np.isfinite(maps).all()


def test_unknown_backbone_names_the_model_and_a_bad_layer_path():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))
    with pytest.raises(CamError, match="no known CAM target layer for model Sequential.*--layer"):
        find_target_layer(model)
    with pytest.raises(CamError, match="has no layer 'nope.3'"):
        find_target_layer(model, "nope.3")
    assert find_target_layer(model, "0").module is model[0]
    with pytest.raises(CamError, match="unknown CAM method 'gradkam'"):
        CamExtractor(model, "gradkam", layer="0")


# --- CamExtractor: every method, batches, hooks, no mutation ----------------------------------------

@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("batch", [1, 3])
def test_every_method_shapes_range_and_no_mutation(tiny_cnn, method, batch):
    torch.manual_seed(1)
    x = torch.randn(batch, 3, 64, 64)
    before_x = x.clone()
    before_w = {k: v.clone() for k, v in tiny_cnn.state_dict().items()}
    with CamExtractor(tiny_cnn, method, **CHEAP) as cam:
        maps = cam(x)
    assert maps.shape == (batch, 64, 64) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1 + 1e-6
    assert torch.equal(x, before_x)
    assert all(torch.equal(v, before_w[k]) for k, v in tiny_cnn.state_dict().items())
    assert all(p.requires_grad for p in tiny_cnn.parameters())
    assert _hooks(tiny_cnn) == 0 and type(tiny_cnn.bn2).__name__ == "BatchNormAct2d"  # AblationCAM swapped it back


def test_batched_equals_one_at_a_time(tiny_cnn):
    torch.manual_seed(2)
    x = torch.randn(5, 3, 64, 64)
    with CamExtractor(tiny_cnn, "gradcam", batch_size=5) as cam:
        batched = cam(x, targets=[0, 1, 2, 0, 1])
    with CamExtractor(tiny_cnn, "gradcam", batch_size=1) as cam:
        single = cam(x, targets=[0, 1, 2, 0, 1])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_hooks_are_released_after_many_runs_and_after_errors(tiny_cnn):
    x = torch.randn(2, 3, 64, 64)
    for _ in range(20):
        with CamExtractor(tiny_cnn, "layercam") as cam:
            cam(x)
    assert _hooks(tiny_cnn) == 0
    with pytest.raises(IndexError):  # grad-cam's own __exit__ would swallow this
        with CamExtractor(tiny_cnn, "gradcam") as cam:
            cam(x)
            raise IndexError("raised inside the block")
    assert _hooks(tiny_cnn) == 0 and all(p.requires_grad for p in tiny_cnn.parameters())
    with pytest.raises(CamError, match="context manager"):
        CamExtractor(tiny_cnn, "gradcam")(x)


def test_gradient_cam_backpropagates_through_the_head_only(tiny_cnn):
    """The speed-up: no gradient reaches the layers below the target layer."""
    reached = []
    handle = tiny_cnn.conv_stem.register_full_backward_hook(lambda *a: reached.append(1))
    try:
        with CamExtractor(tiny_cnn, "gradcam") as cam:
            maps = cam(torch.randn(2, 3, 64, 64))
    finally:
        handle.remove()
    assert not reached and maps.max() > 0


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "scorecam",
                                    "ablationcam"])
def test_cam_finds_the_red_disk(method):
    """A classifier that scores redness: the CAM of its 'red' class must cover the red disk."""
    image, truth = _disk_photo()
    cams = compute_cams(RedDetector().eval(), [image], method, resolution=96, mean=(0, 0, 0), std=(1, 1, 1),
                        targets=[1], layer="features.1", progress=False, perturbation_batch=8)
    assert mask_scores(cam_to_mask(cams[0], "otsu"), truth)["iou"] > 0.7


def test_scorecam_and_ablationcam_forward_cost(tiny_cnn):
    x = torch.randn(2, 3, 64, 64)
    channels = tiny_cnn.num_features
    with ForwardCounter(tiny_cnn) as counter, CamExtractor(tiny_cnn, "scorecam", score_channels=5) as cam:
        cam(x)
    assert counter.images == 2 * (1 + 5)  # one plain pass and one per kept channel, per image
    with ForwardCounter(tiny_cnn) as counter, CamExtractor(tiny_cnn, "ablationcam") as cam:
        cam(x)
    assert counter.images == 2 + 2 + 2 * channels  # CAM pass, grad-cam's scoring pass, one per channel


def test_to_batch_resizes_whole_photo_and_normalises():
    photo = np.zeros((30, 60, 3), np.uint8)
    photo[:, 30:] = 255
    batch = to_batch([photo, Image.fromarray(photo)], 16, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert batch.shape == (2, 3, 16, 16)
    assert batch[0, 0, 0, 0] == -1 and batch[0, 0, 0, -1] == 1  # the right half stays, nothing cropped


# --- CAM -> mask --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name", [("otsu", "otsu"), ("PCT80", "pct80"), ("frac0.15", "frac0.15"),
                                        ("frac.5+fill+lcc", "frac0.5+lcc+fill"), ("otsu+grabcut", "otsu+grabcut")])
def test_rule_names_round_trip(text, name):
    assert MaskRule.parse(text).name == name
    assert MaskRule.parse(name).name == name


@pytest.mark.parametrize("bad", ["otsu2", "pct100", "frac0", "frac1.5", "otsu+crf", ""])
def test_bad_rules_say_the_syntax(bad):
    with pytest.raises(ValueError, match="mask rule"):
        MaskRule.parse(bad)


def test_threshold_rules_on_a_known_cam():
    cam = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    assert cam_to_mask(cam, "pct80").mean() == pytest.approx(0.2)
    assert cam_to_mask(cam, "frac0.15").sum() == (cam >= 0.15).sum()
    bimodal = np.where(np.arange(100).reshape(10, 10) < 30, 0.9, 0.1).astype(np.float32)
    assert cam_to_mask(bimodal, "otsu").sum() == 30
    assert cam_to_mask(np.zeros((4, 4), np.float32), "otsu").sum() == 0  # a flat CAM gives an empty mask


def test_largest_component_and_fill():
    mask = np.zeros((20, 20), bool)
    mask[2:12, 2:12] = True
    mask[5:8, 5:8] = False  # a hole
    mask[15:18, 15:18] = True  # a speck
    assert largest_component(mask)[16, 16] == False  # noqa: E712
    cam = mask.astype(np.float32)
    out = cam_to_mask(cam, "frac0.5+lcc+fill")
    assert out[6, 6] and not out[16, 16] and out.sum() == 100
    assert cam_to_mask(cam, "frac0.5", shape=(40, 40)).shape == (40, 40)


def test_grabcut_tightens_a_blurry_cam():
    import cv2

    image, truth = _disk_photo(size=128, radius=30, centre=(60, 64))
    blurry = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 12)
    blurry /= blurry.max()
    plain = mask_scores(cam_to_mask(blurry, "frac0.15"), truth)["iou"]
    refined = mask_scores(cam_to_mask(blurry, "frac0.15+grabcut", image=image), truth)["iou"]
    assert refined > 0.9 > plain
    with pytest.raises(ValueError, match="needs the RGB photo"):
        cam_to_mask(blurry, "otsu+grabcut")


def test_grabcut_ignores_opencv_global_rng_state():
    """GrabCut's k-means start draws from OpenCV's global RNG; the same CAM must give the same mask."""
    import cv2

    rng = np.random.default_rng(1)  # a noisy scene on which GrabCut's result depends on its start
    yy, xx = np.mgrid[:64, :64]
    truth = (yy - 30) ** 2 + (xx - 34) ** 2 <= 18 ** 2
    image = rng.normal(128, 40, (64, 64, 3)).clip(0, 255).astype(np.uint8)
    image[truth] = rng.normal(150, 40, (truth.sum(), 3)).clip(0, 255).astype(np.uint8)
    cam = cv2.GaussianBlur(truth.astype(np.float32) + rng.random((64, 64)).astype(np.float32), (0, 0), 5)
    cam = (cam - cam.min()) / (cam.max() - cam.min())
    masks = []
    for state in (1, 2, 3, 4):
        cv2.setRNGSeed(state)
        masks.append(cam_to_mask(cam, "otsu+grabcut", image=image))
    assert all(np.array_equal(m, masks[0]) for m in masks)


# --- scoring, the sweep, bad input ------------------------------------------------------------------

def _write_pairs(root, n=3, size=64):
    (root / "img").mkdir(parents=True)
    (root / "mask").mkdir()
    pairs = []
    for i in range(n):
        image, truth = _disk_photo(size=size, radius=12 + 2 * i, centre=(30, 30 + i))
        Image.fromarray(image).save(root / "img" / f"p{i}.png")
        Image.fromarray(np.uint8(truth) * 255).convert("RGB").save(root / "mask" / f"p{i}.png")
        pairs.append((root / "img" / f"p{i}.png", root / "mask" / f"p{i}.png"))
    return pairs


def test_bad_pairs_name_the_file(tmp_path):
    pairs = _write_pairs(tmp_path)
    with pytest.raises(SegmentationDataError, match=r"p0\.png: no mask \(looked for .*missing\.png\)"):
        load_samples([(pairs[0][0], tmp_path / "missing.png")])
    Image.new("RGB", (10, 10)).save(tmp_path / "small.png")
    with pytest.raises(ValueError, match=r"small\.png: mask is 10x10 px but its photo is 64x64"):
        load_samples([(pairs[0][0], tmp_path / "small.png")])
    Image.new("RGB", (64, 64)).save(tmp_path / "empty.png")
    with pytest.raises(SegmentationDataError, match=r"empty\.png: empty mask"):
        load_samples([(pairs[0][0], tmp_path / "empty.png")])
    samples = load_samples(pairs, max_side=32)
    assert [s.image.shape for s in samples] == [(32, 32, 3)] * 3 and samples[0].truth.dtype == bool


def test_sweep_reuses_cams_and_resumes(tmp_path):
    """Adding thresholds adds no model pass; a rerun with more thresholds runs the model zero times."""
    samples = load_samples(_write_pairs(tmp_path / "segm"))
    backbone = LoadedModel("test:red", RedDetector().eval(), 64, (0, 0, 0), (1, 1, 1), {"spec": "test:red"})
    cfg = SegmentationConfig(methods=("gradcam", "eigencam"), thresholds=("otsu",), n_boot=50)
    counts = []
    for rules, store in [(("otsu",), "a"), (("otsu", "pct50", "frac0.15", "otsu+grabcut+lcc"), "b"),
                         (("otsu", "pct90", "frac0.3+fill"), "b")]:
        cfg = SegmentationConfig(methods=("gradcam", "eigencam"), thresholds=rules, n_boot=50)
        with ForwardCounter(backbone.model) as counter:
            result = evaluate(samples, [backbone], cfg, RunStore(tmp_path / store), tmp_path / store / "cams")
        counts.append(counter.calls)
        assert len(result.table) == 2 * len(rules)
    assert counts[0] == counts[1] > 0 and counts[2] == 0
    table = result.table
    assert list(table.columns[:6]) == ["backbone", "method", "threshold", "miou", "mdice", "s_per_image"]
    assert ((table["miou_low"] <= table["miou"]) & (table["miou"] <= table["miou_high"])).all()
    assert (table["forwards_per_image"] == 1).all() and (table["n_images"] == 3).all()
    cases = result.cases("test:red", "gradcam", "otsu", k=1)
    assert [c["rank"] for c in cases] == ["best", "worst"] and cases[0]["iou"] >= cases[1]["iou"]
    assert cases[0]["mask"].shape == cases[0]["truth"].shape


def test_cases_of_a_run_come_from_its_artifacts_and_a_moved_folder_keeps_its_cams(tmp_path):
    """`cases(session, ...)` decodes only the picked photos and reads the cached CAMs: the same cases as
    the in-memory result; the CAM run key fingerprints the files, so a moved copy reuses the CAMs."""
    import shutil
    from types import SimpleNamespace

    from minerals.cam import section

    pairs = _write_pairs(tmp_path / "data" / "segm")
    backbone = LoadedModel("test:red", RedDetector().eval(), 64, (0, 0, 0), (1, 1, 1), {"spec": "test:red"})
    cfg = SegmentationConfig(methods=("gradcam",), thresholds=("otsu", "pct50"), n_boot=20, max_side=48)
    store, cache = RunStore(tmp_path / "runs"), tmp_path / "artifacts"
    result = evaluate(load_samples(pairs, cfg.max_side), [backbone], cfg, store, cache)
    session = SimpleNamespace(release=SimpleNamespace(segmentation=lambda: pairs), artifacts=lambda name: cache)
    got = section.cases(session, cfg, result.per_image, "test:red", "gradcam", "pct50", k=1)
    want = result.cases("test:red", "gradcam", "pct50", k=1)
    assert [(c["name"], c["rank"], c["iou"]) for c in got] == [(c["name"], c["rank"], c["iou"]) for c in want]
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(got, want) for k in ("image", "truth", "cam", "mask"))
    assert section.best(result.table)["miou"] == result.table["miou"].max()
    moved = shutil.copytree(tmp_path / "data", tmp_path / "elsewhere" / "data")
    moved_pairs = [tuple(moved / Path(p).relative_to(tmp_path / "data") for p in pair) for pair in pairs]
    with ForwardCounter(backbone.model) as counter:
        evaluate(load_samples(moved_pairs, cfg.max_side), [backbone], cfg, store, cache)
    assert counter.calls == 0


def test_layer_config_rejects_unknown_settings():
    with pytest.raises(ValueError, match="unknown setting"):
        SegmentationConfig.from_section({"methodz": ["gradcam"]})
    with pytest.raises(ValueError, match="unknown CAM method"):
        SegmentationConfig.from_section({"methods": ["gradkam"]})
    cfg = SegmentationConfig.from_section({"methods": ["scorecam"], "perturbation_images": 2})
    assert cfg.methods == ("scorecam",) and cfg.images_for("scorecam", 10) == 2 and cfg.images_for("gradcam", 10) == 10


def test_summarise_means_and_interval():
    per_image = pd.DataFrame({"backbone": "b", "method": "m", "threshold": "otsu", "iou": [0.2, 0.4, 0.9],
                              "dice": [0.3, 0.5, 0.95], "pixel_acc": [0.9, 0.9, 0.9], "mask_s": 0.01,
                              "cam_s_per_image": 0.5, "forwards_per_image": 1.0, "image": ["a", "b", "c"]})
    row = summarise(per_image, n_boot=200).iloc[0]
    assert row["miou"] == pytest.approx(0.5) and row["s_per_image"] == pytest.approx(0.51)
    assert 0.2 <= row["miou_low"] <= 0.5 <= row["miou_high"] <= 0.9


def test_score_cams_checks_lengths(tmp_path):
    samples = load_samples(_write_pairs(tmp_path / "segm", n=2))
    with pytest.raises(CamError, match="1 CAMs for 2 photos"):
        score_cams(np.zeros((1, 8, 8), np.float32), samples, ["otsu"])


# --- the command --------------------------------------------------------------------------------------

def test_segment_command_writes_masks_and_overlays(tmp_path, monkeypatch, capsys):
    import json

    import minerals.models.registry
    from minerals.cli import main

    pairs = _write_pairs(tmp_path / "segm", n=2)
    red = LoadedModel("test:red", RedDetector().eval(), 64, (0, 0, 0), (1, 1, 1))
    monkeypatch.setattr(minerals.models.registry, "load_backbone", lambda spec, **kw: red)
    code = main(["segment", str(pairs[0][0]), str(pairs[1][0]), "--out", str(tmp_path / "out"),
                 "--layer", "features.1", "--threshold", "otsu+lcc"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    mask = np.asarray(Image.open(lines[0]["mask"])) > 0
    truth = np.asarray(Image.open(pairs[0][1]).convert("L")) > 127
    assert mask_scores(mask, truth)["iou"] > 0.7
    assert Image.open(lines[0]["overlay"]).size == (64, 64)
    assert main(["segment", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "out")]) == 2
    assert "nope.jpg" in capsys.readouterr().err
    assert main(["segment", str(pairs[0][0]), "--out", str(tmp_path / "o"), "--threshold", "otsu+crf"]) == 2


def test_segment_defaults_are_the_cross_style_pipeline_and_paper_is_one_flag(tmp_path, monkeypatch, capsys):
    import minerals.cam.segment
    import minerals.models.registry
    from minerals.cam import DEFAULT_METHOD, DEFAULT_THRESHOLD, PAPER_METHOD, PAPER_THRESHOLD
    from minerals.cli import main

    pairs = _write_pairs(tmp_path / "segm", n=1)
    calls = []
    monkeypatch.setattr(minerals.models.registry, "load_backbone", lambda spec, **kw: None)
    monkeypatch.setattr(minerals.cam.segment, "segment_files",
                        lambda paths, backbone, out, method, rule, *a: calls.append((method, rule)) or [])
    assert main(["segment", str(pairs[0][0]), "--out", str(tmp_path / "o")]) == 0
    assert main(["segment", str(pairs[0][0]), "--out", str(tmp_path / "o"), "--paper"]) == 0
    assert main(["segment", str(pairs[0][0]), "--out", str(tmp_path / "o"), "--threshold", "pct50"]) == 0
    assert calls == [(DEFAULT_METHOD, DEFAULT_THRESHOLD), (PAPER_METHOD, PAPER_THRESHOLD), (DEFAULT_METHOD, "pct50")]
    assert main(["segment", str(pairs[0][0]), "--out", str(tmp_path / "o"), "--paper", "--method", "layercam"]) == 2
    assert "--paper" in capsys.readouterr().err


def test_ablation_never_picks_constant_channels():
    """grad-cam 1.5.7 picks dead channels first when ablating a fraction; they cannot move the CAM."""
    from minerals.cam.methods import LiveAblationLayer

    rng = np.random.default_rng(0)
    acts = rng.random((10, 4, 4)).astype(np.float32)
    acts[[0, 3, 7]] = 0
    acts[5] = 6.0
    picked = LiveAblationLayer().activations_to_be_ablated(acts, 0.2)
    assert len(picked) == 2 and not set(picked) & {0, 3, 5, 7}
    assert len(LiveAblationLayer().activations_to_be_ablated(acts, 1.0)) == 10


@pytest.mark.parametrize("shape", [(3, 40, 5, 5), (2, 8, 3, 4), (1, 300, 2, 2)])
def test_thin_svd_projection_equals_grad_cam(shape):
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    from minerals.cam.methods import principal_projection

    acts = np.maximum(np.random.default_rng(0).normal(size=shape), 0).astype(np.float32)
    np.testing.assert_allclose(principal_projection(acts), get_2d_projection(acts), atol=1e-4)


def test_objectness_mask_matches_grad_cam():
    from pytorch_grad_cam import AblationLayer

    from minerals.cam.methods import LiveAblationLayer

    acts = np.maximum(np.random.default_rng(1).normal(size=(50, 6, 6)), 0).astype(np.float32)
    np.testing.assert_array_equal(LiveAblationLayer().objectiveness_mask_from_svd(acts),
                                  AblationLayer().objectiveness_mask_from_svd(acts))


def test_best_row_ignores_rows_scored_on_a_subset():
    from minerals.cam.section import SegmentationResult

    table = pd.DataFrame({"backbone": ["fewshot:a", "fewshot:a", "imagenet:b"], "method": ["gradcam", "scorecam", "x"],
                          "threshold": "otsu", "miou": [0.6, 0.9, 0.95], "n_images": [10, 2, 10]})
    result = SegmentationResult(table, pd.DataFrame(), [])
    assert result.best("fewshot:")["method"] == "gradcam" and result.best()["backbone"] == "imagenet:b"
    with pytest.raises(CamError, match="no segmentation rows"):
        result.best("clip:")


def _odd_files(folder) -> dict[str, bool]:
    """Ten odd photo files in `folder`: name -> whether it should be segmented (True) or refused (False)."""
    import struct
    import zlib

    folder.mkdir(parents=True)
    image, _ = _disk_photo(size=96)
    Image.fromarray(image).save(folder / "good.png")
    Image.fromarray(image).save(folder / "photo.jpg", quality=90)
    small = Image.new("RGB", (8, 8), (200, 200, 200))
    small.save(folder / "bomb.png")
    raw = bytearray((folder / "bomb.png").read_bytes())  # IHDR claims 30000 x 30000 px, CRC fixed up
    raw[16:24] = struct.pack(">II", 30000, 30000)
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))
    (folder / "bomb.png").write_bytes(bytes(raw))
    big = Image.fromarray(np.asarray(Image.fromarray(image).resize((400, 300))))
    big.save(folder / "whole.jpg", quality=90)
    data = (folder / "whole.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[:len(data) // 3])
    (folder / "whole.jpg").unlink()
    (folder / "text.jpg").write_text("not a photo\n")
    Image.fromarray((np.asarray(Image.fromarray(image).convert("L"), np.uint16) * 257)).save(folder / "deep16.png")
    assert Image.open(folder / "deep16.png").mode.startswith("I")
    Image.fromarray(image).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(image).convert("L").save(folder / "grey.jpg")
    Image.fromarray(image).resize((200, 150)).save(folder / "small200.png")
    return {"good.png": True, "photo.jpg": True, "bomb.png": False, "truncated.jpg": False, "text.jpg": False,
            "deep16.png": True, "cmyk.jpg": True, "grey.jpg": True, "small200.png": True}


def test_segment_command_goes_on_past_unusable_files(tmp_path, monkeypatch, capsys):
    """Like `minerals size`: one line per file, a status for the unusable ones, the rest written, exit 0."""
    import json

    import minerals.models.registry
    from minerals.cli import main

    expected = _odd_files(tmp_path / "odd")
    Image.fromarray(_disk_photo(size=64)[0]).save(tmp_path / "extra.png")  # the tenth file, given by path
    expected["extra.png"] = True
    red = LoadedModel("test:red", RedDetector().eval(), 64, (0, 0, 0), (1, 1, 1))
    monkeypatch.setattr(minerals.models.registry, "load_backbone", lambda spec, **kw: red)
    code = main(["segment", str(tmp_path / "odd"), str(tmp_path / "extra.png"), "--out", str(tmp_path / "out"),
                 "--layer", "features.1", "--batch-size", "4"])
    assert code == 0
    lines = {Path(r["image"]).name: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert sorted(lines) == sorted(expected)
    for name, usable in expected.items():
        row = lines[name]
        if usable:
            assert row["status"] == "ok", row
            mask = np.asarray(Image.open(row["mask"]))
            assert mask.shape[:2] == np.asarray(Image.open(tmp_path / "odd" / name if name != "extra.png"
                                                           else tmp_path / name)).shape[:2]
            # the red detector sees the red disk in colour photos; grey ones carry no red
            assert (0.0 < row["area_fraction"] < 1.0) == (name not in ("grey.jpg", "deep16.png")), row
        else:
            assert row["status"].startswith("unreadable image: ") and name in row["status"], row
            assert not (tmp_path / "out" / f"{Path(name).stem}_mask.png").exists()
    assert "decompression bomb" in lines["bomb.png"]["status"]
