"""Model registry: classifiers (timm, torchvision, offline EfficientNet-Lite0), CLIP, checkpoints."""
