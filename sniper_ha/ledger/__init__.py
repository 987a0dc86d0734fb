"""The replicated ledger: typed commands, the state store, and the deterministic apply."""
