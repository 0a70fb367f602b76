"""Group commit: rows from many concurrent callers written in one transaction, each caller awaiting its own.

Why: every turn writes an inbound audit row and its replies' outbound rows, and must not act before its row
is durable. One transaction each meant one commit (on SQLite one fsync, on PostgreSQL one WAL flush and three
round trips) per row. Here the first caller's rows are written at once; whoever arrives while that
transaction runs joins the next one. So an idle system adds no delay, and a busy one commits once per batch
of turns instead of once per row, with the same guarantee: a caller's ``submit`` returns only after the
transaction holding its rows has committed (or raises if it failed).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Generic, Sequence, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Job = TypeVar("Job")

#: Jobs written per transaction at most (a bound on statement size and on one batch's latency).
MAX_BATCH = 256


class GroupCommit(Generic[Job]):
    """``await submit(job)`` → ``write(conn, jobs)``'s result for ``job``, once its transaction committed.

    ``write`` runs inside one transaction for a batch of jobs and returns one result per job, in order."""

    def __init__(self, db: AsyncEngine,
                 write: Callable[[AsyncConnection, Sequence[Job]], Awaitable[Sequence[Any]]]) -> None:
        self._db = db
        self._write = write
        self._pending: list[tuple[Job, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        self.transactions = 0

    async def submit(self, job: Job) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="group-commit")
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                async with self._db.begin() as conn:
                    results = await self._write(conn, [job for job, _ in batch])
                self.transactions += 1
            except BaseException as exc:  # noqa: BLE001 - every caller of the batch learns of it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)
