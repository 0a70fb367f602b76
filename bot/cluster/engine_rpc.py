"""Engine commands over Redis Streams: many workers, one engine process (the lease holder) answering them.

Why streams and not pub/sub: a request XADDed while the engine is failing over is not lost -- the consumer
group ``engine`` keeps it, and the next holder re-reads what the dead one had taken but not acknowledged
before reading new entries. Why a deadline on every request: a caller that gave up (and told its user "try
again") must never have its order executed behind its back, so the server skips anything past its deadline.
Re-running an entry that was executed but not acknowledged is safe: orders are idempotent on their client id.

Keys (``prefix`` defaults to ``gw:``):

* ``{prefix}eng:cmd``          requests: id, reply_to, method, args (JSON object, typed by the method's
                               hints), deadline (epoch seconds); group ``engine``, consumer ``engine``
* ``{prefix}eng:reply:{uuid}`` one reply stream per :class:`RemoteEngine`: id + result (JSON), or id + error
                               (an exception type name, or ``expired``); trimmed and given a TTL by the server
* ``{prefix}eng:events``       one entry per market tick that produced events: at (ISO), events (JSON list)

Deadlines compare wall clocks across hosts: keep them NTP-synchronised.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import traceback
import typing
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

import structlog

from bot import metrics
from bot.batching import Coalescer
from bot.cluster import codec
from bot.cluster.lease import LeaseLost
from bot.cluster.streams import ensure_group

from engine.api import (ContractNote, EngineEvent, Estimate, Funds, Holding, OrderRequest, OrderResult,
                        OrderView, Position, Quote, Trade)
from engine.api import EngineUnavailable as _Unavailable
from engine.embedded import EmbeddedEngine

log = structlog.get_logger("gridworks.cluster.engine_rpc")

__all__ = ["CMD_CONSUMER", "CMD_GROUP", "METHODS", "EngineServer", "EngineUnavailable", "LocalEngine",
           "RemoteEngine", "RemoteEngineError", "cmd_stream", "decode_events", "encode_events",
           "events_stream", "reply_stream"]

CMD_GROUP = "engine"
CMD_CONSUMER = "engine"     # one logical consumer: a new holder inherits the dead holder's pending entries
EVENTS_GROUP = "workers"    # (created by the workers that read the events)

#: The engine methods callable over the wire (``engine.api.OrderEngine`` plus two audit helpers).
METHODS: tuple[str, ...] = ("open_account", "estimate", "place", "modify", "cancel", "get_order", "orders",
                            "trades", "holdings", "positions", "funds", "quote", "contract_note", "advance",
                            "order_history", "ledger_balanced", "seal_accounts")


class EngineUnavailable(_Unavailable):
    """No answer in time, Redis unreachable, or the engine lost its lease mid-command (the fence rolled the
    write back): the caller tells its user to try again. (A subclass of ``engine.api.EngineUnavailable``,
    which handlers catch.)

    After an ``expired`` reply the request was not executed. After a plain timeout it was not executed either
    unless the engine took it before its deadline (80% of the timeout); re-sending an order with the same
    client order id is always safe."""


class RemoteEngineError(RuntimeError):
    """The engine raised an unexpected error for this request; ``kind`` is the exception's type name only."""

    def __init__(self, method: str, kind: str) -> None:
        super().__init__(f"engine failed on {method}: {kind}")
        self.method = method
        self.kind = kind


def cmd_stream(prefix: str) -> str:
    return f"{prefix}eng:cmd"


def events_stream(prefix: str) -> str:
    return f"{prefix}eng:events"


def reply_stream(prefix: str, client: str) -> str:
    return f"{prefix}eng:reply:{client}"


class _Signature(typing.NamedTuple):
    signature: inspect.Signature
    params: dict[str, Any]       # parameter name -> type hint
    returns: Any
    required: frozenset[str]     # parameters without a default


def _signatures() -> dict[str, _Signature]:
    out = {}
    for name in METHODS:
        fn = getattr(EmbeddedEngine, name)
        hints = typing.get_type_hints(fn)
        sig = inspect.signature(fn)
        params = {p: hints.get(p, Any) for p in sig.parameters if p != "self"}
        required = frozenset(p for p, v in sig.parameters.items()
                             if p != "self" and v.default is inspect.Parameter.empty)
        out[name] = _Signature(sig, params, hints.get("return", Any), required)
    return out


SIGNATURES = _signatures()


def encode_events(at: datetime, events: Sequence[EngineEvent]) -> dict[str, str]:
    """The fields of one ``eng:events`` entry."""
    return {"at": at.isoformat(), "events": codec.dumps(list(events), list[EngineEvent])}


def decode_events(fields: Mapping[Any, Any]) -> tuple[datetime, list[EngineEvent]]:
    """The tick time and events of one ``eng:events`` entry (as read from redis-py, bytes or str)."""
    f = _fields(fields)
    return datetime.fromisoformat(f["at"]), codec.loads(f["events"], list[EngineEvent])


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, (bytes, bytearray)) else str(v)


def _fields(fields: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in fields.items()}


def _entries(resp: Any) -> list[tuple[str, dict[Any, Any] | None]]:
    """Entries of a single-stream XREAD/XREADGROUP answer, in either RESP2 (list) or RESP3 (dict) shape."""
    if not resp:
        return []
    streams = resp.items() if isinstance(resp, dict) else resp
    return [(_text(entry_id), data) for _name, entries in streams for entry_id, data in entries]


def _cancelling() -> bool:
    """Whether the current task is being cancelled. redis-py may turn a cancellation that lands mid-read
    into a ``ConnectionError``; a retry loop must not swallow it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _finish(task: asyncio.Task, grace_s: float) -> None:
    """Let a reader loop see its stop flag and end (its blocking read returns within ``grace_s``); cancel it
    only if it does not. A cancelled redis-py read can be retried inside the library, so waiting is safer."""
    done, _ = await asyncio.wait({task}, timeout=grace_s)
    if not done:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace_s)
    if done and not task.cancelled() and task.exception() is not None:
        log.warning("engine_rpc.reader_failed", error=type(task.exception()).__name__)


def _failure(method: str, error: str) -> Exception:
    """What a caller sees of an engine command that failed with ``error`` (an exception's type name, or
    ``expired``), whichever way the command went: nothing was executed or written -> "try again"
    (:class:`EngineUnavailable`); anything else -> :class:`RemoteEngineError`, the type name only."""
    if error == "expired":
        return EngineUnavailable(f"the engine saw {method} only after its deadline (not executed)")
    if error == LeaseLost.__name__:
        return EngineUnavailable(f"the engine lost its lease during {method} (nothing was written)")
    return RemoteEngineError(method, error)


def _consume(task: asyncio.Future) -> None:
    """Mark a finished command's outcome as retrieved: its caller may have stopped waiting for it."""
    if not task.cancelled():
        task.exception()


def _where(exc: BaseException) -> str:
    """The innermost frame of a traceback as ``dir/file.py:line``: enough to find a bug, no personal data."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    return f"{'/'.join(PurePath(frames[-1].filename).parts[-2:])}:{frames[-1].lineno}"


class LocalEngine:
    """The engine this process serves while it holds the lease, for callers in the same process.

    A ``gridworks serve`` that is the engine runs a worker beside it: that worker's :class:`RemoteEngine`
    calls the engine in memory instead of through the command stream (four Redis round trips and two JSON
    codings less per call). ``engine`` is set once the engine serves and cleared before it stops; a write
    after the lease moved is refused by the engine's own fence either way. Like the stream's requests in
    hand, the commands running when it stops are let finish (:meth:`drain`) before the engine closes."""

    def __init__(self) -> None:
        self.engine: EmbeddedEngine | None = None
        self.running: set[asyncio.Future] = set()

    async def drain(self, timeout_s: float) -> None:
        if self.running:
            await asyncio.wait(set(self.running), timeout=timeout_s)


class EngineServer:
    """Serves ``{prefix}eng:cmd`` for one :class:`EmbeddedEngine` and runs the market clock.

    Run it only while holding the engine lease (:mod:`bot.cluster.lease`).
    """

    def __init__(self, engine: EmbeddedEngine, redis: Any, *, prefix: str = "gw:", reply_ttl_s: float = 60.0,
                 reply_maxlen: int = 10_000, events_maxlen: int = 100_000, block_ms: int = 1000,
                 batch: int = 128, max_inflight: int = 1024, wall: Any = time.time) -> None:
        self.engine = engine
        self.redis = redis
        self.prefix = prefix
        self.cmd = cmd_stream(prefix)
        self.events = events_stream(prefix)
        self._reply_prefix = reply_stream(prefix, "")
        self.reply_ttl_ms = max(1, int(reply_ttl_s * 1000))
        self.reply_maxlen = reply_maxlen
        self.events_maxlen = events_maxlen
        self.block_ms = block_ms
        self.batch = batch
        self._wall = wall
        self._slots = asyncio.Semaphore(max_inflight)
        self._inflight: set[asyncio.Task] = set()
        self._reader: asyncio.Task | None = None
        self._replies: Coalescer = Coalescer(self._send_replies)
        self._stopping = False
        self.handled = 0
        self.expired = 0

    # -- requests -----------------------------------------------------------------------------------
    async def ensure_group(self) -> None:
        """Create the consumer group (from the start of the stream: requests sent before any engine ever ran
        are answered, or expired, too)."""
        await ensure_group(self.redis, self.cmd, CMD_GROUP)

    def start(self) -> asyncio.Task:
        if self._reader is None or self._reader.done():
            self._stopping = False
            self._reader = asyncio.create_task(self._read_loop(), name="engine-rpc-server")
        return self._reader

    async def run(self) -> None:
        """Serve until :meth:`stop` (or cancellation)."""
        await self.start()

    async def stop(self, *, drain_s: float = 10.0) -> None:
        """Stop reading, then let the requests already taken finish (their replies go out, they are acked)."""
        self._stopping = True
        reader, self._reader = self._reader, None
        if reader is not None:
            await _finish(reader, self.block_ms / 1000 + 1)
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=drain_s)

    async def _read_loop(self) -> None:
        await self.ensure_group()
        cursor: str | None = "0"         # first the entries the previous holder took but never acknowledged
        backoff = 0.1
        while not self._stopping:
            try:
                resp = await self.redis.xreadgroup(CMD_GROUP, CMD_CONSUMER, {self.cmd: cursor or ">"},
                                                   count=self.batch,
                                                   block=None if cursor is not None else self.block_ms)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _cancelling():
                    raise asyncio.CancelledError from exc
                log.warning("engine_rpc.read_failed", error=type(exc).__name__)
                if "NOGROUP" in str(exc):
                    try:
                        await self.ensure_group()
                    except Exception:   # noqa: BLE001 - retried below
                        pass
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if self._stopping or _cancelling():    # taken entries stay pending: the next reader gets them
                return
            entries = _entries(resp)
            if cursor is not None:
                if not entries:
                    log.info("engine_rpc.pending_done")
                    cursor = None
                    continue
                cursor = entries[-1][0]
            for entry_id, data in entries:
                await self._slots.acquire()
                task = asyncio.create_task(self._handle(entry_id, data))
                self._inflight.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._inflight.discard(task)
        self._slots.release()

    async def _handle(self, entry_id: str, data: Mapping[Any, Any] | None) -> None:
        if not data:                     # trimmed away while pending: nothing to answer
            await self._ack(entry_id)
            return
        try:
            f = _fields(data)
            cid, reply_to, method = f["id"], f["reply_to"], f["method"]
            deadline = float(f["deadline"])
            raw_args = f.get("args") or "{}"
        except (KeyError, ValueError, UnicodeDecodeError):
            log.warning("engine_rpc.malformed", entry=entry_id)
            await self._ack(entry_id)
            return
        if not reply_to.startswith(self._reply_prefix):   # never write to a key outside our reply streams
            log.warning("engine_rpc.bad_reply_to", entry=entry_id)
            await self._ack(entry_id)
            return
        if self._wall() > deadline:
            self.expired += 1
            log.info("engine_rpc.expired", method=method, late_s=round(self._wall() - deadline, 3))
            await self._reply(entry_id, reply_to, {"id": cid, "error": "expired"})
            return
        reply: dict[str, str]
        started = time.perf_counter()
        try:
            result, returns = await self._call(method, raw_args)
            reply = {"id": cid, "result": codec.dumps(result, returns)}
        except Exception as exc:   # an unexpected failure: the type name only, never its text
            log.error("engine_rpc.failed", method=method, error=type(exc).__name__, where=_where(exc))
            reply = {"id": cid, "error": type(exc).__name__}
        self.handled += 1
        # The histogram, not a debug line: a structlog call binds a logger even when the level drops it.
        metrics.engine_command(method, time.perf_counter() - started)
        await self._reply(entry_id, reply_to, reply)

    async def _call(self, method: str, raw_args: str) -> tuple[Any, Any]:
        sig = SIGNATURES.get(method)
        if sig is None:
            raise LookupError("unknown method")
        data = json.loads(raw_args)
        if not isinstance(data, dict):
            raise codec.WireError("args must be an object")
        kwargs = {}
        for name, raw in data.items():
            if name not in sig.params:
                raise TypeError("unexpected argument")
            kwargs[name] = codec.from_wire(raw, sig.params[name])
        if not sig.required <= kwargs.keys():   # missing arguments fail here, before the engine sees them
            raise TypeError("missing argument")
        return await getattr(self.engine, method)(**kwargs), sig.returns

    async def _reply(self, entry_id: str, reply_to: str, fields: dict[str, str]) -> None:
        for attempt in range(5):
            try:
                await self._replies.submit((entry_id, reply_to, fields))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _cancelling():
                    raise asyncio.CancelledError from exc
                log.warning("engine_rpc.reply_failed", error=type(exc).__name__, attempt=attempt + 1)
                await asyncio.sleep(0.1 * 2 ** attempt)
        # Left pending: the next holder re-reads it and answers (or expires) it.

    async def _send_replies(self, replies: Sequence[tuple[str, str, dict[str, str]]]) -> list[None]:
        """The replies of every request finished meanwhile, in one round trip: each reply and its request's
        acknowledgement in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id, reply_to, fields in replies:
                pipe.xadd(reply_to, fields, maxlen=self.reply_maxlen, approximate=True)
                pipe.pexpire(reply_to, self.reply_ttl_ms)
                pipe.xack(self.cmd, CMD_GROUP, entry_id)
            await pipe.execute()
        return [None] * len(replies)

    async def _ack(self, entry_id: str) -> None:
        try:
            await self.redis.xack(self.cmd, CMD_GROUP, entry_id)
        except Exception as exc:   # noqa: BLE001 - left pending; harmless
            log.warning("engine_rpc.ack_failed", error=type(exc).__name__)

    # -- the market clock ---------------------------------------------------------------------------
    async def tick(self, now: datetime) -> list[EngineEvent]:
        """Move the engine to ``now`` and publish the tick with what happened (one entry per tick, also when
        nothing did: the workers' tick hooks -- price alerts, trial reminders -- run on every tick)."""
        events = list(await self.engine.advance(now))
        fields = encode_events(now, events)
        for attempt in range(5):
            try:
                await self.redis.xadd(self.events, fields, maxlen=self.events_maxlen, approximate=True)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _cancelling():
                    raise asyncio.CancelledError from exc
                log.warning("engine_rpc.events_publish_failed", error=type(exc).__name__, attempt=attempt + 1)
                await asyncio.sleep(0.1 * 2 ** attempt)
        else:
            log.error("engine_rpc.events_lost", count=len(events))
        return events

    def stop_ticker(self) -> None:
        self._ticking = False

    async def run_ticker(self, every_s: float, clock: Any) -> None:
        """Advance the engine to ``clock.now()`` every ``every_s`` seconds until cancelled or
        :meth:`stop_ticker` (a cancellation that a library swallows mid-call must not keep it ticking)."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        self._ticking = True
        while self._ticking:
            try:
                events = await metrics.timed_tick(self.tick(clock.now()))
                if events:
                    log.info("engine_rpc.tick", events=len(events))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _cancelling():
                    raise asyncio.CancelledError from exc
                log.error("engine_rpc.tick_failed", error=type(exc).__name__, where=_where(exc))
            next_at = max(next_at + every_s, loop.time())
            await asyncio.sleep(next_at - loop.time())


class RemoteEngine:
    """``engine.api.OrderEngine`` over Redis: what a worker holds instead of an :class:`EmbeddedEngine`.

    Calls raise :class:`EngineUnavailable` after ``timeout_s`` without a reply; the request carries a deadline
    of 80% of that, so the engine never executes a request its caller has already given up on. With a
    ``market`` and a ``clock``, ``quote`` is answered locally (the simulated market is a pure function of
    time). With a ``local`` slot, commands go to this process's own engine while it serves
    (:class:`LocalEngine`), and through Redis otherwise.
    """

    def __init__(self, redis: Any, *, prefix: str = "gw:", timeout_s: float = 10.0, market: Any = None,
                 clock: Any = None, block_ms: int = 1000, cmd_maxage_s: float | None = None,
                 wall: Any = time.time, local: LocalEngine | None = None) -> None:
        self.redis = redis
        self.local = local
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.market = market
        self.clock = clock
        self.block_ms = block_ms
        self.cmd = cmd_stream(prefix)
        self.reply_key = reply_stream(prefix, uuid.uuid4().hex)
        # Entries older than this are past every deadline: trimming them can never drop a live request.
        self.cmd_maxage_s = cmd_maxage_s if cmd_maxage_s is not None else max(60.0, 10 * timeout_s)
        self._wall = wall
        self._waiting: dict[str, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self._commands: Coalescer = Coalescer(self._send_commands)
        self._closed = False

    async def _send_commands(self, commands: Sequence[dict[str, str]]) -> list[None]:
        """The commands of every turn that called meanwhile, in one round trip."""
        minid = f"{int((self._wall() - self.cmd_maxage_s) * 1000)}-0"
        async with self.redis.pipeline(transaction=False) as pipe:
            for fields in commands:
                pipe.xadd(self.cmd, fields, minid=minid, approximate=True)
            await pipe.execute()
        return [None] * len(commands)

    # -- plumbing -----------------------------------------------------------------------------------
    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_replies(), name="engine-rpc-replies")

    async def _read_replies(self) -> None:
        last = "0-0"
        backoff = 0.1
        while not self._closed:
            try:
                resp = await self.redis.xread({self.reply_key: last}, count=256, block=self.block_ms)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _cancelling():
                    raise asyncio.CancelledError from exc
                log.warning("engine_rpc.reply_read_failed", error=type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for entry_id, data in _entries(resp):
                last = entry_id
                if not data:
                    continue
                f = _fields(data)
                fut = self._waiting.get(f.get("id", ""))
                if fut is not None and not fut.done():
                    fut.set_result(f)

    async def _call(self, method: str, **kwargs: Any) -> Any:
        if self._closed:
            raise EngineUnavailable("the remote engine client is closed")
        engine = self.local.engine if self.local is not None else None
        if engine is not None:
            return await self._call_in_process(engine, method, kwargs)
        sig = SIGNATURES[method]
        self._ensure_reader()
        loop = asyncio.get_running_loop()
        start = loop.time()
        cid = uuid.uuid4().hex
        args = json.dumps({k: codec.to_wire(v, sig.params[k]) for k, v in kwargs.items()},
                          ensure_ascii=False, separators=(",", ":"))
        fut: asyncio.Future = loop.create_future()
        self._waiting[cid] = fut
        try:
            now = self._wall()
            fields = {"id": cid, "reply_to": self.reply_key, "method": method, "args": args,
                      "deadline": repr(now + self.timeout_s * 0.8)}
            try:
                await asyncio.wait_for(self._commands.submit(fields), self.timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise EngineUnavailable(f"could not send {method} to the engine") from exc
            remaining = self.timeout_s - (loop.time() - start)
            try:
                reply = await asyncio.wait_for(fut, max(remaining, 0.0))
            except TimeoutError:
                raise EngineUnavailable(f"the engine did not answer {method} within {self.timeout_s:g}s") \
                    from None
        finally:
            self._waiting.pop(cid, None)
        error = reply.get("error")
        if error:
            raise _failure(method, error)
        return codec.loads(reply["result"], sig.returns)

    async def _call_in_process(self, engine: EmbeddedEngine, method: str, kwargs: dict[str, Any]) -> Any:
        """``method`` on this process's engine, with the outcomes the stream gives: a write the lease's fence
        refused is :class:`EngineUnavailable`, an unexpected failure a :class:`RemoteEngineError` naming its
        type only, no answer within ``timeout_s`` :class:`EngineUnavailable`. A caller that gives up or is
        cancelled never cancels the command (as a request the engine has taken runs to its end)."""
        started = time.perf_counter()
        running = asyncio.ensure_future(getattr(engine, method)(**kwargs))
        running.add_done_callback(_consume)
        self.local.running.add(running)
        running.add_done_callback(self.local.running.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(running), self.timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError) and not running.done():
                raise EngineUnavailable(f"the engine did not answer {method} within {self.timeout_s:g}s") \
                    from None
            if not isinstance(exc, LeaseLost):  # an unexpected failure: logged as the server logs it
                log.error("engine_rpc.failed", method=method, error=type(exc).__name__, where=_where(exc))
            raise _failure(method, type(exc).__name__) from None
        finally:
            metrics.engine_command(method, time.perf_counter() - started, "in_process")

    async def close(self) -> None:
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None:
            await _finish(reader, self.block_ms / 1000 + 1)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(EngineUnavailable("the remote engine client closed"))
        self._waiting.clear()
        try:
            await self.redis.delete(self.reply_key)
        except Exception:   # noqa: BLE001 - it expires anyway
            pass

    # -- engine.api.OrderEngine -----------------------------------------------------------------------
    async def open_account(self, account: str, *, starting_cash_paise: int | None = None) -> Funds:
        return await self._call("open_account", account=account, starting_cash_paise=starting_cash_paise)

    async def estimate(self, request: OrderRequest) -> Estimate:
        return await self._call("estimate", request=request)

    async def place(self, request: OrderRequest) -> OrderResult:
        return await self._call("place", request=request)

    async def modify(self, account: str, order_id: str, *, quantity: int | None = None,
                     price_paise: int | None = None, trigger_paise: int | None = None) -> OrderResult:
        return await self._call("modify", account=account, order_id=order_id, quantity=quantity,
                                price_paise=price_paise, trigger_paise=trigger_paise)

    async def cancel(self, account: str, order_id: str) -> OrderResult:
        return await self._call("cancel", account=account, order_id=order_id)

    async def get_order(self, account: str, order_id: str) -> OrderView | None:
        return await self._call("get_order", account=account, order_id=order_id)

    async def orders(self, account: str, *, open_only: bool = False) -> Sequence[OrderView]:
        return await self._call("orders", account=account, open_only=open_only)

    async def trades(self, account: str, *, day: date | None = None) -> Sequence[Trade]:
        return await self._call("trades", account=account, day=day)

    async def holdings(self, account: str) -> Sequence[Holding]:
        return await self._call("holdings", account=account)

    async def positions(self, account: str) -> Sequence[Position]:
        return await self._call("positions", account=account)

    async def funds(self, account: str) -> Funds:
        return await self._call("funds", account=account)

    async def quote(self, symbol: str) -> Quote | None:
        if self.market is not None and self.clock is not None:
            return self.market.quote(symbol, self.clock.now()) if symbol else None
        return await self._call("quote", symbol=symbol)

    async def contract_note(self, account: str, day: date) -> ContractNote | None:
        return await self._call("contract_note", account=account, day=day)

    async def advance(self, now: datetime) -> Sequence[EngineEvent]:
        return await self._call("advance", now=now)

    async def order_history(self, order_id: str) -> list[dict[str, Any]]:
        return await self._call("order_history", order_id=order_id)

    async def seal_accounts(self, accounts: Sequence[str]) -> int:
        return await self._call("seal_accounts", accounts=list(accounts))

    async def ledger_balanced(self) -> bool:
        return await self._call("ledger_balanced")
