"""Training loops, checkpoints and checkpoint selection."""
