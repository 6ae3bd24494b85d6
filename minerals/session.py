"""Transitional alias of `minerals.pipeline` for `minerals/check.py` and `tests/test_smoke_reproduction.py`.

Delete once both import `minerals.pipeline.registry.notebook_registry` directly.
"""

from minerals.pipeline.registry import notebook_registry

__all__ = ["notebook_registry"]
