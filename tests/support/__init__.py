"""Test support that needs no pytest: also used by `scripts/bench.py`."""
