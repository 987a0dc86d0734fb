"""Chaos suite: inject faults into a real cluster under load, record a history, check it."""
