"""Eager PyTorch references: the test oracle, the CPU fallback and the benchmark baseline."""
