"""minerals: the reproducible companion of the MineralImage5k paper (Nesteruk et al., 2023)."""

__version__ = "0.1.0"
