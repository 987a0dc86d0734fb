"""The worker agent: registration, heartbeats, leasing and running scans, durable results."""
