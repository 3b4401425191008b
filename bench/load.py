"""What else the machine was doing while a sweep measured: load average, other processes' CPU share, our threads.

Timings taken while another job had the cores are not the kernel's: on 2 cores with a competing job,
two intra-op threads that wait on each other at every barrier took 63× longer than one. A run
records the load around it (run.json ``load``) and every timed cell records the CPU shares during
its timed rounds (record ``load``), so the report can say that a run was contended and which cells
were disturbed. Everything here reads ``/proc`` (Linux); where it is unreadable the figures are None.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
COMPETITORS_LISTED = 5


def available_cpus() -> int:
    """CPUs this process may run on (its affinity), which is what 'all cores' means for a sweep."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> list[float] | None:
    try:
        return [float(x) for x in (PROC / "loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def busy_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat's first line."""
    try:
        fields = [int(x) for x in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def clock_ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


def own_cpu_seconds() -> float:
    """CPU seconds used by this process (all its threads) so far, at the clock's resolution (os.times has 10 ms ticks)."""
    return time.process_time()


@dataclass
class Counters:
    """A snapshot to difference later: wall clock, machine-wide busy ticks, this process's CPU time."""

    wall: float = field(default_factory=time.monotonic)
    ticks: tuple[int, int] | None = field(default_factory=busy_ticks)
    own_seconds: float = field(default_factory=own_cpu_seconds)


def cpu_shares(before: Counters, after: Counters, threads: int) -> dict:
    """Between two snapshots: the share of its threads' time this process got, and the share of the
    machine's CPUs everything else used (1.0: another process kept every core busy)."""
    wall = after.wall - before.wall
    own = after.own_seconds - before.own_seconds
    result = {"wall_s": round(wall, 4), "own_cpu_share": None, "others_cpu_share": None}
    if wall <= 0:
        return result
    result["own_cpu_share"] = round(own / (wall * max(threads, 1)), 3)
    if before.ticks and after.ticks:
        busy = after.ticks[0] - before.ticks[0]
        total = after.ticks[1] - before.ticks[1]
        if total > 0:
            # Ticks count every CPU of the machine: busy/total is its busy fraction, less ours.
            others = (busy - own * clock_ticks_per_second()) / total
            result["others_cpu_share"] = round(min(max(others, 0.0), 1.0), 3)
    return result


def process_ticks() -> dict[int, tuple[str, int, int]]:
    """pid → (name, parent pid, user+system ticks) for every process whose /proc entry is readable."""
    table = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name_end = text.rfind(")")
        name = text[text.find("(") + 1:name_end]
        fields = text[name_end + 2:].split()
        try:
            table[int(entry.name)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]))
        except (IndexError, ValueError):
            continue
    return table


def command_line(pid: int, limit: int = 120) -> str | None:
    """The process's command line, shortened (what a reader needs to recognise the competing job)."""
    try:
        words = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    text = " ".join(w.decode(errors="replace") for w in words if w)
    return text[:limit] if text else None


def descendants(table: dict[int, tuple[str, int, int]], root: int) -> set[int]:
    family, grew = {root}, True
    while grew:
        grew = False
        for pid, (_, parent, _) in table.items():
            if parent in family and pid not in family:
                family.add(pid)
                grew = True
    return family


def top_competitors(before: dict, after: dict, wall: float, root: int | None = None) -> list[dict]:
    """The processes outside this one's family that used the most CPU between two process tables."""
    if wall <= 0:
        return []
    ticks_per_second = clock_ticks_per_second()
    ours = descendants(after, root if root is not None else os.getpid())
    used = []
    for pid, (name, _, ticks) in after.items():
        if pid in ours:
            continue
        delta = ticks - before[pid][2] if pid in before else ticks  # a process started meanwhile: all of its time
        if delta > 0:
            used.append({"pid": pid, "name": name, "cpu_share": round(delta / ticks_per_second / wall, 3)})
    used.sort(key=lambda item: -item["cpu_share"])
    for item in used[:COMPETITORS_LISTED]:
        item["command"] = command_line(item["pid"]) or item["name"]
    return used[:COMPETITORS_LISTED]


class LoadRecorder:
    """The load around a whole run: made when the session begins, ``finish()`` when it ends."""

    def __init__(self, threads: int, cpus: int | None = None) -> None:
        self.threads, self.cpus = threads, cpus or available_cpus()
        self.load_before = load_average()
        self.counters = Counters()
        self.processes = process_ticks()

    def finish(self) -> dict:
        after, processes = Counters(), process_ticks()
        shares = cpu_shares(self.counters, after, self.threads)
        # Our own CPU share over a whole run says little (collection, oracle, reports): keep the others'.
        return {"cpus": self.cpus, "threads": self.threads, "load_average_before": self.load_before,
                "load_average_after": load_average(), "wall_s": shares["wall_s"],
                "others_cpu_share": shares["others_cpu_share"],
                "top_competitors": top_competitors(self.processes, processes, shares["wall_s"])}


class CellLoad:
    """CPU shares during one cell's timed rounds: ``with CellLoad(threads) as load: ...; load.result``."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.result: dict = {}

    def __enter__(self) -> CellLoad:
        self.before = Counters()
        return self

    def __exit__(self, *exc) -> None:
        self.result = cpu_shares(self.before, Counters(), self.threads)
