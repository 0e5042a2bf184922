"""CHAI's research harness (not packaged): run from a source checkout, e.g. ``python -m research.eval``."""
