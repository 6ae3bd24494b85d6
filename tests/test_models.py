"""Classifiers by name: close-match errors, heads, the offline EfficientNet-Lite0, offline fail-fast, preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from minerals.models import classifiers as models
from minerals.models.classifiers import ModelError, create_classifier, preprocessing


@pytest.mark.parametrize("name, expected", [("resnet5", "resnet50"), ("efficientnet_lite", "efficientnet_lite0"),
                                            ("torchvision/resnet5", "torchvision/resnet50"),
                                            ("resnet50.a1_in1kk", "resnet50.a1_in1k")])
def test_unknown_name_lists_close_matches(name, expected):
    with pytest.raises(ModelError, match="did you mean") as err:
        models.check_name(name)
    assert expected in str(err.value) and repr(name) in str(err.value)


@pytest.mark.parametrize("name", ["resnet18", "torchvision/resnet18", "tf_efficientnet_lite0"])
def test_random_classifier_has_the_requested_head(name):
    torch.manual_seed(0)
    model = create_classifier(name, num_classes=7, pretrained=False).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 7)


def test_offline_lite0_recognises_imagenet_photos():
    """The packaged weights map onto timm's layout: the cat photo lands in ImageNet's cat classes (281-285)."""
    from skimage import data

    model = create_classifier("tf_efficientnet_lite0", 1000, pretrained=True).eval()
    transform = preprocessing("tf_efficientnet_lite0", 224).eval_transform()
    with torch.no_grad():
        cat = model(transform(Image.fromarray(data.chelsea()))[None]).softmax(1)[0]
        cup = model(transform(Image.fromarray(data.coffee()))[None]).softmax(1)[0]
    assert set(cat.topk(2).indices.tolist()) <= set(range(281, 286))
    assert int(cup.argmax()) == 967 and float(cup.max()) > 0.8  # espresso


def test_offline_lite0_rejects_a_mismatched_target():
    target = create_classifier("resnet18", 1000, pretrained=False).state_dict()
    with pytest.raises(ModelError, match="efficientnet-lite0"):
        models.offline_lite0_state_dict(target)


def test_pretrained_lite0_gets_a_fresh_head_over_imagenet_features():
    pre = create_classifier("tf_efficientnet_lite0", 1000, pretrained=True).state_dict()
    new = create_classifier("tf_efficientnet_lite0", 5, pretrained=True).state_dict()
    assert torch.equal(pre["conv_stem.weight"], new["conv_stem.weight"])
    assert new["classifier.weight"].shape == (5, 1280)


def test_hub_weights_fail_fast_offline(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE/MINERALS_OFFLINE is set.*tf_efficientnet_lite0"):
        create_classifier("resnet18.a1_in1k", 3, pretrained=True)


def test_minerals_offline_stops_timm_too(monkeypatch, tmp_path):
    """One offline switch: MINERALS_OFFLINE alone keeps timm's hub loads off the network."""
    import huggingface_hub.constants as hf

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("MINERALS_OFFLINE", "1")
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match="MINERALS_OFFLINE is set"):
        create_classifier("resnet18.a1_in1k", 3, pretrained=True)
    assert hf.HF_HUB_OFFLINE is False


def test_torchvision_weights_fail_fast_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ModelError, match=f"not cached at {tmp_path}"):
        create_classifier("torchvision/resnet18", 3, pretrained=True)


def test_preprocessing_follows_the_weights():
    assert preprocessing("tf_efficientnet_lite0").mean == (0.5, 0.5, 0.5)
    assert preprocessing("tf_efficientnet_lite0").resolution == 224
    assert preprocessing("resnet50", 160).std == pytest.approx((0.229, 0.224, 0.225))
    assert preprocessing("torchvision/resnet50").mean == models.IMAGENET_MEAN
    info = {"mean": [0.1, 0.2, 0.3], "std": [1, 1, 1], "resolution": 96}
    assert preprocessing(info).resolution == 96 and preprocessing(info, 128).resolution == 128


def test_transforms_give_square_normalised_tensors():
    pre = preprocessing("tf_efficientnet_lite0", 48)
    image = Image.fromarray(np.full((60, 90, 3), 255, np.uint8))
    x = pre.eval_transform()(image)
    assert x.shape == (3, 48, 48) and torch.allclose(x, torch.ones_like(x))  # white -> (1 - 0.5) / 0.5
    torch.manual_seed(0)
    assert pre.train_transform()(image).shape == (3, 48, 48)


def test_one_spec_vocabulary():
    from minerals.models.registry import Spec, clip_spec, parse_spec

    assert parse_spec("timm:resnet50.a1_in1k") == Spec("timm", "resnet50.a1_in1k")
    assert parse_spec("torchvision:resnet50").classifier_name == "torchvision/resnet50"
    assert parse_spec("imagenet:torchvision/resnet50") == Spec("torchvision", "resnet50")
    assert parse_spec("imagenet:tf_efficientnet_lite0") == Spec("timm", "tf_efficientnet_lite0")
    assert parse_spec("effnet-lite0").classifier_name == "tf_efficientnet_lite0"
    assert parse_spec("clip:ViT-B-32@openai") == Spec("clip", "ViT-B-32", tag="openai")
    assert parse_spec("clip:ViT-B-32@/w/vit.pt") == Spec("clip", "ViT-B-32", checkpoint="/w/vit.pt")
    assert parse_spec("clip:minerals-tiny") == Spec("clip", "minerals-tiny")
    assert parse_spec("checkpoint:/runs/best.pt") == Spec("checkpoint", "/runs/best.pt")
    assert clip_spec("ViT-B-32", "openai") == "clip:ViT-B-32@openai"
    for bad in ("resnet50", "keras:resnet", "clip:", "effnet-lite0:x"):
        with pytest.raises(ModelError, match="unknown model spec"):
            parse_spec(bad)

