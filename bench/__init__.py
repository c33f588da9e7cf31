"""The benchmark harness: ``python -m bench.run [--smoke]``; see docs/BENCHMARKS.md."""
