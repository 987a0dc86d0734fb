"""Proposals from asyncio: submit with a callback, settle a future on the loop, bound the wait.

pysyncobj calls the callback on its own thread, so the future is settled through
`call_soon_threadsafe`. Every wait has a deadline; a timeout means the command may still
commit, which is why every write the API proposes is idempotent on retry.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pysyncobj import FAIL_REASON

from sniper_ha.errors import NoLeader, NotLeader, Overloaded, UnknownOutcome
from sniper_ha.ledger import fsm
from sniper_ha.raft.node import Replica


def _error_for(reason: int) -> Exception:
    if reason == FAIL_REASON.QUEUE_FULL:
        return Overloaded()
    if reason == FAIL_REASON.MISSING_LEADER:
        return NoLeader()
    if reason in (FAIL_REASON.NOT_LEADER, FAIL_REASON.LEADER_CHANGED, FAIL_REASON.DISCARDED,
                  FAIL_REASON.REQUEST_DENIED):
        return NotLeader("leadership changed before the command committed")
    return UnknownOutcome()


class RaftBridge:
    def __init__(self, replica: Replica, loop: asyncio.AbstractEventLoop) -> None:
        self.replica = replica
        self.loop = loop

    async def propose(self, command: dict[str, Any], timeout: float) -> fsm.Outcome:
        return await self.submit(self.replica.ledger.apply, command, timeout=timeout)

    async def submit(self, method: Any, *args: Any, timeout: float) -> Any:
        """Call a pysyncobj method that takes `callback=` (a replicated method, or a
        membership change) and wait, bounded, for its outcome on the event loop."""
        fut: asyncio.Future[Any] = self.loop.create_future()

        def settle(result: Any, reason: int) -> None:
            if fut.done():
                return
            if reason == FAIL_REASON.SUCCESS:
                fut.set_result(result)
            else:
                fut.set_exception(_error_for(reason))

        def callback(result: Any, reason: int) -> None:
            self.loop.call_soon_threadsafe(settle, result, reason)

        method(*args, callback=callback)
        # asyncio.wait, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
        # races with the result, and the leader machinery relies on cancellation to stop.
        try:
            done, _ = await asyncio.wait({fut}, timeout=timeout)
        finally:
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled():
                fut.exception()  # retrieved, even if our waiter was cancelled meanwhile
        if not done:
            raise UnknownOutcome(f"no commit within {timeout:.1f}s")
        return fut.result()
