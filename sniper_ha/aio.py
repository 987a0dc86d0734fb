"""asyncio helpers shared by the leader machinery."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def stop_task(task: asyncio.Task[Any], grace: float = 2.0) -> None:
    """Cancel a task and wait for it, but never forever: a lost cancellation (or a task stuck
    in a thread) must not keep a replica from taking up or giving up leadership."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.error("task %s did not stop within %.1fs; abandoning it", task.get_name(), grace)
    elif not task.cancelled() and task.exception() is not None:
        log.error("task %s had failed: %r", task.get_name(), task.exception())
