"""Benchmarks: `make bench` runs each `bench/<name>.py`.

Each writes `bench/results/<name>.json`.
"""
