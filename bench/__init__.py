"""Benchmarks: `make bench BENCH_ARGS="<name> [options]"` or `.venv/bin/python -m bench <name> --help`."""
