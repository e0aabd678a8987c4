"""Benchmarks: `make bench` runs each `bench/<name>.py`, which writes `bench/results/<name>.json`."""
