"""Runs: the run record (meta.json), checkpoint files, the index of runs, and run statuses."""
