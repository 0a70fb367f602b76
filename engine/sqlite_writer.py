"""An optional SQLite writer *process*: it owns one sqlite3 connection and commits each batch it is sent.

Why a process: the engine is pure Python under one GIL, so a writer thread cannot run SQLite's own work (B-tree
inserts, WAL page images; about a third of the CPU of a durable order) in parallel with the event loop. A
child process can. The parent sends ``[(sql, rows), ...]`` per transaction over a pipe and hears ``("ok",)``
only after ``COMMIT`` returned (WAL, ``synchronous=FULL``), so a caller still hears its result only after its
transaction is durable. If the parent dies the pipe closes and the child exits (an open transaction rolls
back). Only ``sqlite3`` is imported here, so the child starts fast.
"""

from __future__ import annotations

import pickle
import sqlite3
from typing import Any


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
        conn.execute(f"PRAGMA {pragma}")          # the same settings as engine.db for every connection
    return conn


def _read(stream: Any) -> Any:
    head = stream.read(4)
    if len(head) < 4:
        raise EOFError
    size = int.from_bytes(head, "little")
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return pickle.loads(body)


def _write(stream: Any, obj: Any) -> None:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(body).to_bytes(4, "little") + body)
    stream.flush()


def serve(path: str, inp: Any, out: Any) -> None:
    """The child's loop: one transaction per message; ``None`` (or a closed pipe) ends it."""
    conn = _connect(path)
    try:
        while True:
            try:
                job = _read(inp)
            except EOFError:
                return
            if job is None:
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for sql, rows in job:
                        conn.executemany(sql, rows)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _write(out, ("error", type(exc).__name__, str(exc)))
            else:
                _write(out, ("ok",))
    finally:
        conn.close()


class WriterProcess:
    """The parent's handle: :meth:`commit` blocks (in the engine's writer thread) until the child committed.

    The child is ``python -m engine.sqlite_writer PATH`` talking length-prefixed pickles over its stdin and
    stdout (not ``multiprocessing``, which re-imports the parent's main module under ``spawn``)."""

    def __init__(self, path: str) -> None:
        import subprocess
        import sys

        self._proc = subprocess.Popen([sys.executable, "-m", "engine.sqlite_writer", path],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)

    def commit(self, job: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        try:
            _write(self._proc.stdin, job)
            reply = _read(self._proc.stdout)
        except (EOFError, OSError) as exc:
            raise sqlite3.OperationalError("engine writer process is gone") from exc
        if reply[0] != "ok":
            kind = getattr(sqlite3, reply[1], sqlite3.DatabaseError)
            raise kind(reply[2])

    def close(self) -> None:
        import subprocess

        try:
            _write(self._proc.stdin, None)
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:   # pragma: no cover - only if the child hangs
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()


if __name__ == "__main__":
    import sys

    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
