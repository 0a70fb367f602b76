"""Engine values on the wire, and engine commands over real Redis Streams to a real engine on PostgreSQL.

Each test has its own key prefix on the real Redis and its own PostgreSQL schema; nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import time
import types
import typing
from collections.abc import Mapping as AbcMapping, Sequence as AbcSequence
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bot.cluster import codec
from bot.cluster.engine_rpc import (CMD_CONSUMER, CMD_GROUP, METHODS, EngineServer, EngineUnavailable,
                                    LocalEngine, RemoteEngine, RemoteEngineError, cmd_stream, decode_events,
                                    events_stream, reply_stream)
from engine import api
from engine.api import (ContractNote, ContractNoteLine, EngineEvent, EventKind, OrderRequest, OrderResult,
                        OrderStatus, OrderType, Rejection, Side, Trade)
from engine.clock import IST, FixedClock
from engine.factory import build_market, open_engine
from tests.engine.conftest import CONFIG

ACC = "919800000002"
MON_10 = datetime(2026, 11, 23, 10, 0, tzinfo=IST)

# -- codec ---------------------------------------------------------------------------------------------------
ZONES = [IST, timezone.utc, timezone(timedelta(hours=-3, minutes=-30)), ZoneInfo("Europe/London")]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
DATETIMES = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                         timezones=st.sampled_from(ZONES))
ENUMS = st.sampled_from([m for cls in (Side, OrderType, OrderStatus, api.Product, api.Validity, api.Tier)
                         for m in cls])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), TEXT, DATETIMES, st.dates(), ENUMS,
                    st.floats(allow_nan=False, allow_infinity=False))
ANY = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
    st.dictionaries(st.one_of(TEXT, st.sampled_from(["$type", "$dt", "$map", "$tuple"])), inner, max_size=3)),
    max_leaves=8)


def strategy_for(hint: Any) -> st.SearchStrategy:
    """A Hypothesis strategy for any value the type hint admits (mirrors the codec's own walk)."""
    if hint is Any:
        return ANY
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return st.one_of(*(strategy_for(a) for a in typing.get_args(hint)))
    if hint is type(None):
        return st.none()
    base = origin or hint
    if dataclasses.is_dataclass(base):
        hints = typing.get_type_hints(base)
        return st.builds(base, **{f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(base)})
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return st.sampled_from(list(base))
    if base is datetime:
        return DATETIMES
    if base is date:
        return st.dates()
    if base is bool:
        return st.booleans()
    if base is int:
        return st.integers()
    if base is str:
        return TEXT
    if isinstance(base, type) and issubclass(base, AbcMapping):
        return st.dictionaries(TEXT, strategy_for(typing.get_args(hint)[1]), max_size=3)
    if isinstance(base, type) and issubclass(base, (tuple, AbcSequence)):
        items = st.lists(strategy_for(typing.get_args(hint)[0]), max_size=2)
        return items.map(tuple) if issubclass(base, tuple) else items
    raise AssertionError(f"no strategy for {hint!r}")


WIRE_TYPES = sorted((cls for cls in codec.registered().values() if dataclasses.is_dataclass(cls)),
                    key=lambda c: c.__name__)


def test_every_engine_api_dataclass_and_enum_is_on_the_wire():
    names = {n for n, obj in vars(api).items() if isinstance(obj, type) and obj.__module__ == api.__name__
             and (dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum))}
    assert names <= set(codec.registered())
    assert {"OrderRequest", "OrderResult", "OrderView", "Trade", "Funds", "Holding", "Position", "Estimate",
            "Quote", "ContractNote", "ContractNoteLine", "EngineEvent", "Rejection", "Charges"} <= names


@pytest.mark.parametrize("cls", WIRE_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_codec_round_trip_is_exact(cls, data):
    value = data.draw(strategy_for(cls))
    typed = json.loads(json.dumps(codec.to_wire(value, cls)))
    assert codec.from_wire(typed, cls) == value
    assert codec.loads(codec.dumps(value)) == value                # self-describing (top-level) form
    assert codec.loads(codec.dumps([value, (value,)], list[Any])) == [value, (value,)]
    # the same zone (not only the same instant) at every depth: the wire form of the copy is identical
    assert codec.dumps(codec.loads(codec.dumps(value))) == codec.dumps(value)


@settings(max_examples=80, deadline=None)
@given(value=ANY)
def test_untyped_values_round_trip(value):
    assert codec.loads(codec.dumps(value)) == value


def test_wire_shape_is_readable_and_refuses_unknown_types():
    trade = Trade("0000000001", "261123000000001", ACC, "TCS", Side.BUY, 10, 310_000, MON_10)
    result = OrderResult(accepted=False, rejection=Rejection("band", {"price": 1, "lower": 2, "upper": 3}),
                         trades=(trade,))
    wire = codec.to_wire(result)
    assert wire["$type"] == "OrderResult" and wire["trades"][0]["side"] == "BUY"
    assert wire["trades"][0]["at"] == "2026-11-23T10:00:00+05:30[Asia/Kolkata]"
    assert codec.from_wire(wire).trades[0].at.tzinfo is IST
    line = ContractNoteLine("o", "t", "TCS", "INE467B01029", Side.SELL, 1, 100, MON_10, MON_10)
    note = ContractNote("CN1", ACC, date(2026, 11, 23), date(2026, 11, 24), (line,),
                        api.Charges(brokerage=20), 120)
    assert codec.loads(codec.dumps(note, ContractNote), ContractNote) == note
    for bad in ({"$type": "Popen"}, {"$type": "Trade", "quantity": "ten"},
                {"$enum": "Side", "value": "HOLD"}):
        with pytest.raises(ValueError):
            codec.from_wire(bad)
    with pytest.raises(codec.WireError):
        codec.to_wire(object())
    with pytest.raises(codec.WireError):
        codec.to_wire(trade, OrderRequest)
    # a naive datetime stays naive, an aware one keeps its offset
    assert codec.from_wire(codec.to_wire(datetime(2026, 1, 1, 9, 15))) == datetime(2026, 1, 1, 9, 15)
    at = codec.from_wire(codec.to_wire(datetime(2026, 1, 1, 9, 15, tzinfo=timezone(timedelta(hours=2)))))
    assert at.utcoffset() == timedelta(hours=2)


# -- RPC -----------------------------------------------------------------------------------------------------
class Rig:
    def __init__(self, engine, server: EngineServer, remote: RemoteEngine, client, prefix: str,
                 clock: FixedClock) -> None:
        self.engine, self.server, self.remote, self.client = engine, server, remote, client
        self.prefix, self.clock = prefix, clock


@pytest.fixture
async def rig(pg_db, redis_prefixed):
    client, prefix = redis_prefixed
    clock = FixedClock(MON_10)
    engine = await open_engine(db=pg_db, clock=clock, config=CONFIG)
    server = EngineServer(engine, client, prefix=prefix, block_ms=200)
    server.start()
    remote = RemoteEngine(client, prefix=prefix, timeout_s=5.0, block_ms=200)
    yield Rig(engine, server, remote, client, prefix, clock)
    await remote.close()
    await server.stop()
    await engine.close()


def req(coid: str, symbol: str = "TCS", side: Side = Side.BUY, quantity: int = 5, **kw: Any) -> OrderRequest:
    return OrderRequest(account=ACC, client_order_id=coid, symbol=symbol, side=side, quantity=quantity, **kw)


async def test_place_estimate_funds_modify_cancel_round_trip(rig: Rig):
    remote, engine = rig.remote, rig.engine
    funds = await remote.open_account(ACC, starting_cash_paise=5_000_000)
    assert funds == await engine.funds(ACC) and funds.cash_paise == 5_000_000
    est = await remote.estimate(req("wamid.e1", quantity=3))
    assert est == await engine.estimate(req("wamid.e1", quantity=3)) and est.ok
    placed = await remote.place(req("wamid.m1", quantity=3))
    assert isinstance(placed, OrderResult) and placed.accepted and placed.trades
    assert placed.order.status is OrderStatus.COMPLETE and placed.order.placed_at.tzinfo is IST
    assert await remote.funds(ACC) == await engine.funds(ACC)
    assert (await remote.funds(ACC)).cash_paise < 5_000_000
    quote = await remote.quote("TCS")
    low = quote.ltp_paise * 97 // 100 // quote.tick_paise * quote.tick_paise
    resting = await remote.place(req("wamid.l1", order_type=OrderType.LIMIT, price_paise=low))
    assert resting.accepted and resting.order.status is OrderStatus.OPEN
    oid = resting.order.order_id
    modified = await remote.modify(ACC, oid, quantity=7)
    assert modified.accepted and modified.order.quantity == 7
    assert await remote.get_order(ACC, oid) == await engine.get_order(ACC, oid)
    assert await remote.get_order("someone-else", oid) is None
    cancelled = await remote.cancel(ACC, oid)
    assert cancelled.accepted and cancelled.order.status is OrderStatus.CANCELLED
    again = await remote.cancel(ACC, oid)
    assert not again.accepted and again.rejection.code == "order_not_open"     # an outcome, not an error
    bad = await remote.place(req("wamid.bad", symbol="NOPE"))
    assert not bad.accepted and bad.rejection == Rejection("unknown_symbol", {"symbol": "NOPE"})
    # every other method answers what the engine itself answers
    day = date(2026, 11, 23)
    assert await remote.orders(ACC) == list(await engine.orders(ACC)) and len(await remote.orders(ACC)) == 3
    assert await remote.orders(ACC, open_only=True) == []
    assert await remote.trades(ACC, day=day) == list(await engine.trades(ACC, day=day))
    assert await remote.holdings(ACC) == list(await engine.holdings(ACC))
    assert await remote.positions(ACC) == list(await engine.positions(ACC))
    assert await remote.contract_note(ACC, day) == await engine.contract_note(ACC, day)
    assert await remote.contract_note(ACC, date(2026, 11, 24)) is None
    assert await remote.order_history(oid) == await engine.order_history(oid)
    assert [e["event"] for e in await remote.order_history(oid)] == ["accept", "modify", "cancel"]
    assert await remote.ledger_balanced() is True
    assert await remote.quote("NOPE") is None
    assert await remote.advance(MON_10) == []
    local = RemoteEngine(rig.client, prefix=rig.prefix, market=build_market(CONFIG), clock=rig.clock)
    assert await local.quote("TCS") == quote        # the simulated market answers without a round trip
    await local.close()
    assert set(METHODS) <= {name for name in dir(RemoteEngine) if not name.startswith("_")}


async def test_duplicate_client_order_id_returns_the_same_order(rig: Rig):
    first, *rest = await asyncio.gather(*(rig.remote.place(req("wamid.SAME", symbol="ITC", quantity=2))
                                          for _ in range(6)))
    results = [first, *rest]
    assert len({r.order.order_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    again = await rig.remote.place(req("wamid.SAME", symbol="ITC", quantity=2))
    assert again.duplicate and again.order.order_id == first.order.order_id
    assert [t.trade_id for t in again.trades] == [t.trade_id for t in first.trades]
    assert len(await rig.engine.orders(ACC)) == 1


def in_process(rig: Rig) -> tuple[LocalEngine, RemoteEngine]:
    """A worker beside the engine in one process: its client holds the slot the engine role fills."""
    slot = LocalEngine()
    slot.engine = rig.engine
    return slot, RemoteEngine(rig.client, prefix=rig.prefix, timeout_s=5.0, block_ms=200, local=slot)


async def test_a_workers_own_engine_answers_in_process_as_the_stream_would(rig: Rig):
    """While this process is the engine its worker's calls never touch the command stream; they answer what
    the stream answers (an order placed in process is the stream's duplicate), fail the way the stream fails
    (the type name only), and go through the stream again once the engine stops serving here."""
    slot, mine = in_process(rig)
    stream = cmd_stream(rig.prefix)
    try:
        await mine.open_account(ACC, starting_cash_paise=5_000_000)
        placed = await mine.place(req("wamid.L1", quantity=2))
        assert placed.accepted and placed.order == await rig.engine.get_order(ACC, placed.order.order_id)
        assert await mine.funds(ACC) == await rig.engine.funds(ACC)
        assert await mine.holdings(ACC) == await rig.engine.holdings(ACC)
        assert await rig.client.xlen(stream) == 0
        again = await rig.remote.place(req("wamid.L1", quantity=2))           # another worker, same order
        assert again.duplicate and again.order.order_id == placed.order.order_id
        assert await rig.client.xlen(stream) == 1
        with pytest.raises(RemoteEngineError) as failed:
            await mine.place(None)                          # a bug in a caller: no text, no account number
        assert failed.value.kind == "AttributeError" and str(failed.value) == "engine failed on place: " \
            "AttributeError"
        slot.engine = None                                  # the engine stopped serving in this process
        assert await mine.funds(ACC) == await rig.engine.funds(ACC)
        assert await rig.client.xlen(stream) == 2
    finally:
        await mine.close()


async def test_a_caller_cancelled_mid_command_never_cancels_its_engine_command(rig: Rig):
    """As with a request the engine has taken from the stream: the command runs to its end."""
    _slot, mine = in_process(rig)
    try:
        await mine.open_account(ACC, starting_cash_paise=5_000_000)
        call = asyncio.create_task(mine.place(req("wamid.C1", quantity=1)))
        for _ in range(3):                                  # the command has started
            await asyncio.sleep(0)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        for _ in range(200):
            if await rig.engine.orders(ACC):
                break
            await asyncio.sleep(0.01)
        assert [o.client_order_id for o in await rig.engine.orders(ACC)] == ["wamid.C1"]
    finally:
        await mine.close()


async def test_commands_running_when_the_engine_stops_serving_here_finish_before_it_closes(rig: Rig):
    """The engine role clears the slot, then drains what its own process's worker has running (as the
    stream's server drains the requests it has taken) before the engine closes."""
    slot, mine = in_process(rig)
    try:
        await mine.open_account(ACC, starting_cash_paise=5_000_000)
        call = asyncio.create_task(mine.place(req("wamid.D1", quantity=1)))
        await asyncio.sleep(0)
        assert len(slot.running) == 1
        slot.engine = None
        await slot.drain(5)
        assert not slot.running
        assert [o.client_order_id for o in await rig.engine.orders(ACC)] == ["wamid.D1"]
        assert (await call).accepted
    finally:
        await mine.close()


async def test_timeout_raises_and_the_late_request_is_never_executed(pg_db, redis_prefixed):
    client, prefix = redis_prefixed
    engine = await open_engine(db=pg_db, clock=FixedClock(MON_10), config=CONFIG)
    remote = RemoteEngine(client, prefix=prefix, timeout_s=0.5, block_ms=100)
    try:
        started = time.monotonic()
        with pytest.raises(EngineUnavailable):       # no engine is serving
            await remote.place(req("wamid.LATE"))
        assert 0.45 < time.monotonic() - started < 2.0
        assert isinstance(EngineUnavailable("x"), getattr(api, "EngineUnavailable", RuntimeError))
        server = EngineServer(engine, client, prefix=prefix, block_ms=100)
        server.start()                            # the engine comes back and finds the request queued
        for _ in range(100):
            if server.expired:
                break
            await asyncio.sleep(0.05)
        assert server.expired == 1 and server.handled == 0
        assert await engine.store.order_by_client_id("wamid.LATE") is None
        assert await engine.orders(ACC) == []
        pending = await client.xpending(cmd_stream(prefix), CMD_GROUP)
        assert pending["pending"] == 0
        # the same client works again once the engine answers
        assert (await remote.place(req("wamid.NEXT"))).accepted
        await server.stop()
    finally:
        await remote.close()
        await engine.close()


async def test_a_new_server_answers_what_the_dead_one_took_but_never_acknowledged(pg_db, redis_prefixed):
    client, prefix = redis_prefixed
    engine = await open_engine(db=pg_db, clock=FixedClock(MON_10), config=CONFIG)
    remote = RemoteEngine(client, prefix=prefix, timeout_s=5.0, block_ms=100)
    try:
        call = asyncio.create_task(remote.place(req("wamid.TAKEN")))
        await client.xgroup_create(cmd_stream(prefix), CMD_GROUP, id="0", mkstream=True)
        taken = []
        for _ in range(100):                      # the "dead engine" reads the request and then dies
            taken = await client.xreadgroup(CMD_GROUP, CMD_CONSUMER, {cmd_stream(prefix): ">"}, count=10)
            if taken:
                break
            await asyncio.sleep(0.02)
        assert taken and (await client.xpending(cmd_stream(prefix), CMD_GROUP))["pending"] == 1
        server = EngineServer(engine, client, prefix=prefix, block_ms=100)
        server.start()
        result = await asyncio.wait_for(call, 5)
        assert result.accepted and result.order.client_order_id == "wamid.TAKEN"
        assert (await client.xpending(cmd_stream(prefix), CMD_GROUP))["pending"] == 0
        await server.stop()
    finally:
        await remote.close()
        await engine.close()


async def test_errors_are_type_names_only_and_replies_expire(rig: Rig):
    reply_to = reply_stream(rig.prefix, "manual")
    fields = {"id": "c1", "reply_to": reply_to, "method": "funds",
              "args": json.dumps({"account": 919800000002}), "deadline": repr(time.time() + 5)}
    await rig.client.xadd(cmd_stream(rig.prefix), fields)
    await rig.client.xadd(cmd_stream(rig.prefix), {**fields, "id": "c2", "method": "__init__"})
    await rig.client.xadd(cmd_stream(rig.prefix), {**fields, "id": "c3", "reply_to": "elsewhere"})
    await rig.client.xadd(cmd_stream(rig.prefix), {**fields, "id": "c4", "args": "{}"})     # account missing
    await rig.client.xadd(cmd_stream(rig.prefix), {**fields, "id": "c5",
                                                   "args": json.dumps({"account": "a", "day": "x"})})
    replies: dict[str, dict] = {}
    for _ in range(100):
        for _id, data in (await rig.client.xrange(reply_to)):
            replies[data[b"id"].decode()] = {k.decode(): v.decode() for k, v in data.items()}
        if len(replies) == 4:
            break
        await asyncio.sleep(0.05)
    assert replies["c1"] == {"id": "c1", "error": "WireError"}          # no message text, no account number
    assert replies["c2"] == {"id": "c2", "error": "LookupError"}
    assert replies["c4"] == {"id": "c4", "error": "TypeError"} == {**replies["c5"], "id": "c4"}
    assert 0 < await rig.client.pttl(reply_to) <= 60_000
    assert not await rig.client.exists("elsewhere")


async def test_the_ticker_publishes_each_batch_of_events(rig: Rig):
    quote = await rig.remote.quote("INFY")
    low = quote.ltp_paise * 97 // 100 // quote.tick_paise * quote.tick_paise
    resting = await rig.remote.place(req("wamid.R1", symbol="INFY", order_type=OrderType.LIMIT,
                                         price_paise=low))
    assert resting.order.status is OrderStatus.OPEN
    quiet = MON_10 + timedelta(minutes=1)
    assert await rig.server.tick(quiet) == []
    [(_id, fields)] = await rig.client.xrange(events_stream(rig.prefix))
    assert decode_events(fields) == (quiet, []), "a quiet tick is published too: the tick hooks run on it"
    close = datetime(2026, 11, 23, 16, 0, tzinfo=IST)
    rig.clock.set(close)
    ticker = asyncio.create_task(rig.server.run_ticker(0.05, rig.clock))
    try:
        for _ in range(100):
            if await rig.client.xlen(events_stream(rig.prefix)) > 1:
                break
            await asyncio.sleep(0.05)
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    (_id, fields) = (await rig.client.xrange(events_stream(rig.prefix)))[1]
    at, events = decode_events(fields)
    assert at == close
    assert [(e.kind, e.order.order_id) for e in events] == [("expired", resting.order.order_id)]
    assert isinstance(events[0], EngineEvent) and events[0].kind is EventKind.EXPIRED
    assert events[0].order.status is OrderStatus.EXPIRED
    assert events[0].order == await rig.engine.get_order(ACC, resting.order.order_id)
