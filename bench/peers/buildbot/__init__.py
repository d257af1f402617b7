"""Buildbot 4.3 (from PyPI, in its own venv under a cache directory) on the latency and throughput workloads.

`python -m bench.peers --only buildbot` (or `make bench-peers`): a master and 2 workers on loopback;
8 builders running `echo hello` share both workers (a Buildbot builder runs one build per worker
at a time, so 8 builders × `max_builds=8` give the same 2 × 8 slots as Podium's throughput
workload); builds are started through the ForceScheduler's JSON-RPC over HTTP and their ends are
pushed over Buildbot's websocket (`buildsets/*/complete`).
"""
