"""Benchmark harness (issue 7): synthetic organisations, measured steps, floors, Markdown/JSON report.

`python -m benchmarks.run` (or `make bench`); see benchmarks/results/README.md.
"""
