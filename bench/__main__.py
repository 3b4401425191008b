"""``python -m bench fleet ...``: shard a sweep across local processes, Slurm (submitit) or Ray."""

from __future__ import annotations

import sys

COMMANDS = {"fleet": "shard one sweep across workers: python -m bench fleet --engine local|slurm|ray --shards N [--attn-* ...]"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        given = f"unknown command {argv[0]!r}; " if argv and argv[0] not in ("-h", "--help") else ""
        print(f"python -m bench: {given}commands:\n" + "\n".join(f"  {name}: {text}" for name, text in COMMANDS.items()),
              file=sys.stderr if given else sys.stdout)
        return 2 if given else 0
    from bench.fleet.driver import main as fleet_main

    return fleet_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
