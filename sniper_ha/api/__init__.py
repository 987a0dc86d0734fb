"""The HTTP API: one aiohttp app per replica, writes forwarded to the leader."""
