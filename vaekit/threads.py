"""How PyTorch's CPU threads wait for each other: set before ``torch`` is first imported.

PyTorch's CPU kernels run on OpenMP threads (GNU libgomp in the official
wheels) that meet at a barrier after every operation, about a hundred times a
training step. By default a thread that arrives first spins up to 300,000
times before it sleeps. On a quiet machine that saves the wake-up; on a machine
with one more busy process than cores it is a disaster: the spinning thread
holds a core while the thread it waits for is descheduled, and every barrier
costs a scheduler time slice. Measured on 2 cores with one competing
``python -c 'while True: pass'``: a 2-thread epoch took 8-10x its quiet time
here (3.7x on the issue's machine).

Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) removes the collapse but pays a
wake-up at every barrier: on a quiet 2-core machine two passive threads were
no faster than one. A short spin is the measured middle: with
``GOMP_SPINCOUNT=1000`` a quiet 150-step epoch took 1.7-1.8 s against 2.1 s
passive and 1.2-1.4 s with long spins, and beside a busy process 1.29-1.38x its
quiet time (2,000 spins: 1.87x; benchmarks/bench_contention.py --spin-counts,
benchmarks/results/contention_spincounts*.md).

This matters wherever autograd does the step (the conv and conditional models,
bfloat16, evaluation): the unconditional MLP's hand-written step runs on two
threads of its own instead, with no OpenMP barrier in it (vaekit/fastpath.py).

vaekit sets ``GOMP_SPINCOUNT=1000`` when ``import vaekit`` comes before
``import torch`` (the command line always does) and the user has set neither
variable: OpenMP reads them once, when torch loads its library. This module
must not import torch.
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY = "OMP_WAIT_POLICY"
SPIN_COUNT = "GOMP_SPINCOUNT"
SPINS = 1000  # the measured middle (see above): fast when quiet, no collapse beside a busy process


def bounded_waiting(environ=os.environ) -> bool:
    """True if OpenMP's waiting threads will sleep soon (passive, or a spin count set); False if they
    may spin at length (``OMP_WAIT_POLICY=ACTIVE``, or libgomp's 300,000-spin default)."""
    return environ.get(WAIT_POLICY, "").upper() == "PASSIVE" or SPIN_COUNT in environ


def bound_spinning() -> bool:
    """Let OpenMP's waiting threads spin ``SPINS`` times, then sleep; True if waiting is bounded.

    A user's own ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is kept. Too late (nothing is set)
    once torch is imported.
    """
    if "torch" not in sys.modules and WAIT_POLICY not in os.environ:
        os.environ.setdefault(SPIN_COUNT, str(SPINS))
    return bounded_waiting()
