"""Benchmarks that compare tinca with the real tincd, side by side, in one run."""
