"""Podium's benchmarks: `python -m bench` (or `make bench`) starts the real stack and measures it.

Five workloads (latency, throughput, fleet, history, log), one table on stdout and one JSON file
under `bench/results/`. Timings are never asserted anywhere: the numbers are for reading.
"""
