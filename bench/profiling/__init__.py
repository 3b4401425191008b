"""Profiling of sweep cells: torch.profiler traces, top operators, memory timelines, allocator snapshots."""
