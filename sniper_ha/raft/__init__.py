"""pysyncobj glue: the replica (SyncObj), the ledger consumer and the asyncio bridge."""
