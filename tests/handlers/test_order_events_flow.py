"""Order events end to end, through the real dispatcher, intent pipeline, engine, ZK receipts and stores (the
console channel ``gridworks simulate`` uses): a fill is told once and receipted once, whether it happened in
the user's own turn (a marketable order) or later on the clock (a resting order); an order the close ended
is EXPIRED and reads "expired" in the list in the user's language, as its push said."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.api import OrderStatus
from engine.clock import IST
from locales.catalog import LANGUAGES, load_catalog
from locales.format import rupees
from tests.handlers.test_trading_flow import _card_payload, _channel, _onboard, _start_trial

CATALOG = load_catalog()


def _all_replies(traces: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    """Everything ``user`` was sent over these turns: the turns' replies and the pushes between them."""
    out: list[dict[str, Any]] = []
    for trace in traces:
        out += trace["replies"]
        out += [r for n in trace.get("notifications", []) if n["to"] == user for r in n["replies"]]
    return out


def _fill_texts(replies: list[dict[str, Any]], order_id: str) -> list[str]:
    said = [r.get("text") or "" for r in replies]
    return [s for s in said if order_id in s and ("Done!" in s or "Your order filled" in s)]


def _receipts(replies: list[dict[str, Any]]) -> list[str]:
    return [r["filename"] for r in replies if r["type"] == "document" and not r["filename"].endswith("-opening.json")]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_a_fill_is_told_once_and_receipted_once_in_the_turn_and_on_the_clock(db, tmp_path: Path) -> None:
    runtime, channel = await _channel(db, tmp_path, receipts=True)
    try:
        user = "919800005301"
        await _onboard(channel, user)
        await _start_trial(channel, user)
        engine = runtime.engine

        # A marketable order: accepted and filled in the turn that confirmed it.
        traces = [await channel.turn(user, button=_card_payload(await channel.turn(user, text="buy 1 TCS at market")))]
        [market] = traces[0]["orders"]
        assert market["status"] == "COMPLETE"

        # A resting order the market reaches later in the day.
        now = runtime.clock.now()
        quote = await engine.quote("INFY")
        low_t, low = min(engine.market.samples("INFY", now, now.replace(hour=15, minute=0)), key=lambda s: s[1])
        price = (low // quote.tick_paise + 1) * quote.tick_paise
        assert price < quote.ask_paise - 5 * quote.tick_paise           # it rests: nothing fills it now
        card = await channel.turn(user, text=f"buy 1 INFY at {price / 100:.2f}")
        traces.append(await channel.turn(user, button=_card_payload(card)))
        [resting] = traces[-1]["orders"]
        assert resting["status"] == "OPEN" and not _receipts(traces[-1]["replies"])
        traces.append(await channel.turn(user, text="order status", at=low_t + timedelta(minutes=2)))
        traces.append(await channel.turn(user, text="order status", at=low_t + timedelta(minutes=30)))

        said = _all_replies(traces, user)
        trades = {o: [t for t in await engine.trades(user) if t.order_id == o] for o in (market["id"], resting["id"])}
        assert (await engine.get_order(user, resting["id"])).status is OrderStatus.COMPLETE
        for order_id, its_trades in trades.items():
            assert len(_fill_texts(said, order_id)) == 1, (order_id, [r.get("text") for r in said])
            assert its_trades
        assert len(_receipts(said)) == len(set(_receipts(said))) == sum(len(t) for t in trades.values())
        assert "Done!" in _fill_texts(_all_replies(traces[:1], user), market["id"])[0]          # in the turn
        pushed = [r for n in traces[2].get("notifications", []) for r in n["replies"]]
        assert _fill_texts(pushed, resting["id"]) and _receipts(pushed)                          # on the clock
        assert rupees(price) in _fill_texts(pushed, resting["id"])[0]
    finally:
        await runtime.close()


@pytest.mark.parametrize("lang", ["en", "hi"])
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_an_order_the_close_ended_is_expired_in_its_push_and_in_the_orders_list(db, tmp_path: Path,
                                                                                       lang: str) -> None:
    runtime, channel = await _channel(db, tmp_path)
    try:
        user = "919800005302"
        await channel.turn(user, text="hello")
        await channel.turn(user, button=f"onb_lang:{lang}")
        await channel.turn(user, button="onb_consent:yes")
        await channel.turn(user, text="975310")
        placed = await channel.turn(user, button=_card_payload(await channel.turn(user, text="buy 5 TCS at 3000")))
        [order] = placed["orders"]
        assert order["status"] == "OPEN"
        later = await channel.turn(user, text="order status", at=datetime(2026, 11, 23, 16, 0, tzinfo=IST))
        t = CATALOG.translator(lang)
        word = t("orders.status.expired")
        assert f"— {word}" in "\n".join(r.get("text") or "" for r in later["replies"])
        assert t("orders.status.cancelled") not in "\n".join(r.get("text") or "" for r in later["replies"])
        pushed = [r.get("text") or "" for n in later.get("notifications", []) for r in n["replies"]]
        head = t("trading.event.expired", side="", qty="", symbol="", order_id="").split(":")[0]
        assert any(order["id"] in p and p.startswith(head) for p in pushed), pushed
        assert (await runtime.engine.get_order(user, order["id"])).status is OrderStatus.EXPIRED
    finally:
        await runtime.close()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_order_status_has_a_word_in_every_language(lang: str) -> None:
    for status in OrderStatus:
        assert CATALOG.has(lang, f"orders.status.{status.name.lower()}"), (lang, status)


def test_every_kind_the_clock_produces_has_a_push_and_its_template() -> None:
    """Accepted, rejected and modified come only from the user's own commands (answered in the turn)."""
    from engine.api import EventKind
    from handlers.notifications import PUSHED, TEMPLATE_PARAMS

    assert set(PUSHED.values()) == set(TEMPLATE_PARAMS)
    assert set(EventKind) - set(PUSHED) == {EventKind.ACCEPTED, EventKind.REJECTED, EventKind.MODIFIED}
