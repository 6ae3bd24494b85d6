"""CLIP loading: shipped random configs, hub tags that fail fast offline, local checkpoints with their preprocessing."""

from __future__ import annotations

import json
import socket
import time

import open_clip
import pytest
import torch

from minerals.models import clip
from minerals.models.clip import ClipError, load_clip

TINY_CFG = {"embed_dim": 32,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
PREPROCESS = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bilinear",
              "resize_mode": "squash"}


@pytest.fixture
def no_network(monkeypatch):
    """Any TCP connection attempt fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory):
    """A registered one-layer open_clip architecture `minerals-test-tiny` and a saved random checkpoint of it."""
    folder = tmp_path_factory.mktemp("arch")
    (folder / "minerals-test-tiny.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(folder / "minerals-test-tiny.json")
    torch.manual_seed(1)
    model = open_clip.create_model("minerals-test-tiny")
    weights = folder / "weights" / "tiny.pt"
    weights.parent.mkdir()
    torch.save(model.state_dict(), weights)
    return "minerals-test-tiny", weights, model.state_dict()


def test_shipped_tiny_config_loads_offline_with_its_preprocessing(no_network):
    a = load_clip("minerals-tiny")
    b = load_clip("minerals-tiny")
    assert a.tag == "random" and a.random_weights and "minerals-tiny" in clip.shipped_models()
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    config = json.loads((clip._shipped_dir("minerals-tiny") / "open_clip_config.json").read_text())
    assert a.preprocess_cfg["mean"] == config["preprocess_cfg"]["mean"]
    assert a.preprocess_cfg["size"] == [64, 64]
    feats = a.encode_texts(["a photo of quartz.", "a photo of calcite."])
    assert feats.shape == (2, 64)
    assert torch.allclose(feats.norm(dim=-1), torch.ones(2), atol=1e-5)
    images = torch.rand(3, 3, 64, 64)
    assert a.encode_images(images).shape == (3, 64)


def test_hub_tag_fails_at_once_when_offline(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ClipError, match="not in .* and the network is off.*--checkpoint"):
        load_clip("ViT-B-32", "openai", cache_dir=tmp_path)
    assert time.perf_counter() - start < 2.0


def test_hub_tag_fails_at_once_when_the_host_is_unreachable(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MINERALS_OFFLINE", raising=False)
    probed = []
    monkeypatch.setattr(clip, "network_reachable", lambda host, *a, **k: probed.append(host) or False)
    with pytest.raises(ClipError, match="huggingface.co is unreachable"):
        load_clip("ViT-B-32", "laion2b_s34b_b79k", cache_dir=tmp_path)
    assert probed == ["huggingface.co"]


def test_unknown_names_and_tags_say_what_exists():
    with pytest.raises(ClipError, match="unknown CLIP model 'ViT-Q-99'.*minerals-tiny"):
        load_clip("ViT-Q-99")
    with pytest.raises(ClipError, match="no pretrained tag 'nonsense'.*openai"):
        load_clip("ViT-B-32", "nonsense")
    with pytest.raises(ClipError, match="without published weights"):
        load_clip("minerals-tiny", "openai")


def test_checkpoint_file_needs_a_preprocessing_source(tiny_arch, no_network):
    name, weights, _ = tiny_arch
    with pytest.raises(ClipError, match="cannot tell how images were preprocessed"):
        load_clip(name, checkpoint=weights)


def test_checkpoint_file_with_sidecar_config_loads_offline(tiny_arch, no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name, weights, state = tiny_arch
    sidecar = weights.parent / "open_clip_config.json"
    sidecar.write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": PREPROCESS}))
    try:
        bundle = load_clip(name, checkpoint=weights)
    finally:
        sidecar.unlink()
    assert bundle.preprocess_cfg["mean"] == PREPROCESS["mean"] and bundle.preprocess_cfg["resize_mode"] == "squash"
    assert bundle.tag == "checkpoint" and bundle.fingerprint
    assert all(torch.equal(bundle.model.state_dict()[k], v) for k, v in state.items())


def test_checkpoint_of_another_architecture_is_refused(tiny_arch, tmp_path):
    _, weights, _ = tiny_arch
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": PREPROCESS}))
    (tmp_path / "w.pt").write_bytes(weights.read_bytes())
    with pytest.raises(ClipError, match="do not fit ViT-S-32"):
        load_clip("ViT-S-32", checkpoint=tmp_path / "w.pt")


def test_checkpoint_folder_in_hub_layout(tiny_arch, tmp_path, no_network):
    _, weights, state = tiny_arch
    folder = tmp_path / "hub"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG}))
    with pytest.raises(ClipError, match="no weights file"):
        load_clip("", checkpoint=folder)
    torch.save(state, folder / "open_clip_pytorch_model.bin")
    with pytest.raises(ClipError, match="lacks mean, std"):
        load_clip("", checkpoint=folder)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": PREPROCESS}))
    bundle = load_clip("", checkpoint=folder)
    assert bundle.name == "hub" and bundle.preprocess_cfg["std"] == PREPROCESS["std"]
    assert all(torch.equal(bundle.model.state_dict()[k], v) for k, v in state.items())


def test_missing_checkpoint_path_is_named(tmp_path):
    with pytest.raises(ClipError, match="does not exist"):
        load_clip("ViT-B-32", checkpoint=tmp_path / "nope.pt")


def test_fingerprint_follows_the_content(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"a" * 3_000_000)
    first = clip.fingerprint(path)
    path.write_bytes(b"a" * 2_999_999 + b"b")
    assert clip.fingerprint(path) != first


def test_offline_flag_values(monkeypatch):
    from minerals.models import offline

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("MINERALS_OFFLINE", "0")
    assert not offline()
    monkeypatch.setenv("MINERALS_OFFLINE", "true")
    assert offline()
