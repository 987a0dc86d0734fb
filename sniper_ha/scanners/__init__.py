"""Scan types a worker can run; each module owns its params model and its async run()."""
