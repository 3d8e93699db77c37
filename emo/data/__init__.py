"""The clips as data: inventory, augmentation plan, speaker-independent splits, the arrays each model reads,
fixtures."""
