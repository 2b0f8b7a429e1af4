"""One conformance run's directory (shared typed records, locks) and the sweep of what crashed runs left.

A run is a directory owned by the controlling pytest process (``directory.Run``). Workers
(pytest-xdist) join the same directory, so session resources (the registry, each recipe's build, a VM)
are made once, under a file lock, and shared as typed records (``records``). Whoever starts a process
records it (``processes``); the owner stops every recorded process and removes every container,
network and image of the run at the end, also after a failure or Ctrl-C, and a later run sweeps the
directories of runs whose owner died the same way (``sweep``).
"""

from harness.run.directory import Run
from harness.run.root import runs_root
from harness.run.sweep import sweep_stale_runs

__all__ = ["Run", "runs_root", "sweep_stale_runs"]
