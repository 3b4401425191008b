"""pytest plugin: profiling options for the sweep (filled in by its issue)."""
