"""The built-in synthetic sample benchmark: procedurally drawn scenes with known face boxes (no data needed)."""
