"""Transitional alias of `minerals.pipeline.reproduce` for `tests/test_smoke_reproduction.py`.

Delete once that test imports `minerals.pipeline.reproduce.reproduce` directly.
"""

from minerals.pipeline.reproduce import reproduce

__all__ = ["reproduce"]
