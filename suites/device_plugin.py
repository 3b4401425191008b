"""pytest plugin: device options for the sweep (filled in by its issue)."""
