"""podium_worker: connects to the master and runs each run in an executor process.

Stdlib only here: the executor (`python -m podium_worker.executor`) imports this package on
every run's critical path.
"""

__version__ = "0.1.0"
