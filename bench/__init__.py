"""Benchmarks of the kiosk against a bare Flask floor; `make bench` runs bench/run.py."""
