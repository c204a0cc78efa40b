"""Benchmarks of the pipeline at production scale against the sandbox (`make bench`).

`python -m benchmarks --help` lists the scale flags; the figures go to BENCHMARKS.md.
"""
