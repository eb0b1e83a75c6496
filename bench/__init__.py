"""Benchmark harness: ``python -m bench`` (see bench/README.md). Not part of the deployed gateway."""
