"""How PyTorch's CPU threads wait for each other: set before ``torch`` is first imported.

PyTorch's CPU kernels run on OpenMP threads (GNU libgomp in the official
wheels) that meet at a barrier after every operation, dozens of times a step.
By default a thread that arrives first spins for a while before it sleeps.
On a quiet machine that saves a few microseconds; on a machine with one more
busy process than cores it is a disaster: the spinning thread holds a core
while the thread it waits for is descheduled, and every barrier costs a
scheduler time slice. Measured on 2 cores with one competing
``python -c 'while True: pass'``, a 2-thread epoch took 3.7x its quiet time
(benchmarks/bench_contention.py, benchmarks/README.md).

With ``OMP_WAIT_POLICY=PASSIVE`` a waiting thread sleeps at once and gives its
core to the thread it waits for. vaekit sets it, unless the user set it, when
``import vaekit`` comes before ``import torch`` (the command line always does):
OpenMP reads it once, when torch loads its library. This module must not
import torch.
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY = "OMP_WAIT_POLICY"


def prefer_passive_waiting() -> bool:
    """Ask OpenMP's threads to sleep rather than spin while they wait; True if it takes effect.

    A user's own ``OMP_WAIT_POLICY`` is kept. Too late (False) once torch is imported.
    """
    if "torch" in sys.modules:
        return os.environ.get(WAIT_POLICY, "").upper() == "PASSIVE"
    os.environ.setdefault(WAIT_POLICY, "PASSIVE")
    return os.environ[WAIT_POLICY].upper() == "PASSIVE"
