"""Readers of benchmark tools' output, normalised to one `BenchResult`."""
