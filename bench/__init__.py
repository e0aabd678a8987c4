"""Benchmarks: `make bench` runs every `bench/<name>.py`; each writes `bench/results/<name>.json`."""
