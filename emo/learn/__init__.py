"""Learning: the networks, the training loop and checkpoints, evaluation, and training many runs at once."""
