"""Counting a client's script calls at redis-py's edge: a test of batching asserts how many round trips a
burst of callers cost, without touching the code under test."""

from __future__ import annotations

from typing import Any


def count_script_calls(client: Any) -> list[str]:
    """From now on, every ``EVALSHA`` ``client`` sends is recorded (its script's digest) in the returned list."""
    calls: list[str] = []
    evalsha = client.evalsha

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return evalsha(*args, **kwargs)

    client.evalsha = counted
    return calls
