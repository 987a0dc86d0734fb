"""Leader-only task placement: strategies and the lease dispatcher."""
