"""The regression gate: fail CI on a real slowdown, memory increase or accuracy loss, never on noise.

    python -m reports gate --base origin/main              # paired: base vs the working tree
    python -m reports gate --baseline results/baselines/F  # history: against a committed baseline

Never imports torch: measuring happens in worker processes (suites/gate_worker.py), one per tree.
See docs/gate.md.
"""

from .cli import main

__all__ = ["main"]
