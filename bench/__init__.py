"""The benchmark: bench/run.py (make bench LEVEL=n), its helpers and scripts; see BENCHMARKS.md."""
