"""Celery 5.7 (from PyPI, in its own venv under a cache directory) on the latency and throughput workloads.

`python -m bench.peers --only celery`: the machine's Redis (127.0.0.1:6379) as broker and result backend,
one worker with 16 prefork processes, a task that runs `echo hello` through `subprocess.run`.
Celery is not importable from the workspace, so the client runs in the peer's venv too
(`DRIVER` in `setup.py`) and hands back raw durations; percentiles are computed here.
"""
