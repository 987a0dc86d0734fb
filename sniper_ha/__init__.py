"""sniper-ha: a Raft-replicated, highly available master for a distributed scanning fleet."""

__version__ = "0.1.0"
