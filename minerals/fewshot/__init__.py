"""Few-shot fine-tuning section: grid, training loop, evaluation, compute plan."""
