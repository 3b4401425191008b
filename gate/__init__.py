"""The regression gate: fail CI on a real slowdown, memory increase or accuracy loss, never on noise.

    python -m gate --base origin/main              # paired: base vs the working tree
    python -m gate --baseline results/baselines/F  # history: against a committed baseline

(``python -m reports gate ...`` is the same command.) The driver (cli, paired, history, sides,
sampling, stats, judge, margins, report, trees, roots, workers) never imports torch; measuring
happens in worker processes (worker.py with side.py, yardstick.py, selection.py, tensors.py),
whose import root holds the yardstick's packages and the measured tree's impls/. See docs/gate.md.
"""


def main(argv: list[str] | None = None) -> int:
    """Run the gate with command-line arguments (``sys.argv[1:]`` when None); returns the exit code."""
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bisect"]:  # python -m gate bisect --good A --bad B: the first bad commit (gate/bisect.py)
        from .bisect import main as bisect_main

        return bisect_main(argv[1:])
    from .cli import main as cli_main

    return cli_main(argv)


__all__ = ["main"]
