"""Results as data: the typed, schema-versioned cell record and the one reader of a run's files. Never imports torch."""
