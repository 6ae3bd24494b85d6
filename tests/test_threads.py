"""`minerals.runtime.torch_threads`: the one place that changes torch's thread count for a block."""

from __future__ import annotations

import pytest
import torch

from minerals.runtime import torch_threads


def test_torch_threads_sets_then_restores_even_on_error():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with torch_threads(0):  # 0 leaves the setting alone
        assert torch.get_num_threads() == before
