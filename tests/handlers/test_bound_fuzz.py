"""Fuzz every payload prefix the routers know with crafted, replayed, other-user, expired and tampered values,
through the real dispatcher, engine and SQL stores, and assert that no state changed: orders in the engine,
alerts, tier and plan, cash — for the sender and for the other user.

First a sweep sends every prefix bare and with the values an attacker tries first (a real order id with a new
quantity, an alert id, "trial"); then hypothesis explores. The world: two users on SQLite. ``A`` has a
resting order, an alert, a plan card shown and an open confirmation card; ``B`` has their own order, alert,
open card and a paid plan. Each example is one tap by A or B; afterwards both sessions (and a language or
handoff a harmless payload may have switched) are put back, so every example meets the same world.

Bounded in CI (200 examples); ``GRIDWORKS_FUZZ_EXAMPLES=5000 python -m pytest -q
tests/handlers/test_bound_fuzz.py -s`` is a full run (it prints the figures)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.clock import IST
from engine.db import make_engine
from handlers.handoff import HANDOFF
from handlers.routes import build_router
from tests.support.world import World, open_world, option, options, text

FUZZ_EXAMPLES = int(os.environ.get("GRIDWORKS_FUZZ_EXAMPLES", "0") or 0)
EXAMPLES = FUZZ_EXAMPLES or 200
EARLY = datetime(2026, 11, 23, 9, 20, tzinfo=IST)     # cards and menus shown here have expired by NOW
NOW = datetime(2026, 11, 23, 10, 25, tzinfo=IST)
A, B = "919800007201", "919800007202"
#: Prefixes handled before routing (the clarification pick in the language middleware) and a few nobody knows.
EXTRA_PREFIXES = ("intent", "zz", "TCONFIRM", "")
KINDS = ("crafted", "replayed", "other_user", "expired", "tampered")


def router_prefixes() -> list[str]:
    """Every payload action any router registers (handlers/routes.py composes them)."""
    return sorted({action for route in build_router().routes() for action in route.payloads})


def payloads(trace: dict[str, Any]) -> list[str]:
    return [o["id"] for o in options(trace)]


class Book:
    """The payloads each user was shown, by what they are now: live (never sent back as they are), used,
    expired."""

    def __init__(self) -> None:
        self.live: dict[str, set[str]] = {A: set(), B: set()}
        self.used: dict[str, set[str]] = {A: set(), B: set()}
        self.expired: dict[str, set[str]] = {A: set(), B: set()}

    def saw(self, user: str, trace: dict[str, Any], bucket: str = "live") -> dict[str, Any]:
        getattr(self, bucket)[user].update(payloads(trace))
        return trace

    def use(self, user: str, payload: str) -> str:
        self.live[user].discard(payload)
        self.used[user].add(payload)
        return payload


async def _build(w: World, book: Book) -> dict[str, Any]:
    """Both users' worlds; returns ids worth crafting payloads from."""
    for user in (A, B):
        await w.turn(user, text="hello", at=EARLY)
        await w.turn(user, button="onb_lang:en")
        await w.turn(user, button="onb_consent:yes")
        await w.turn(user, text="975310")
    # A, early: a resting order, then every kind of card and menu, left to expire
    card = book.saw(A, await w.turn(A, text="buy 2 TCS at 3000"), "expired")
    placed = await w.turn(A, button=book.use(A, option(card, "Confirm")))
    order_id = placed["orders"][0]["id"]
    menu = book.saw(A, await w.tap(A, book.saw(A, await w.turn(A, text="order status"), "expired"), "BUY"),
                    "expired")
    await w.tap(A, menu, "Change quantity")
    book.saw(A, await w.turn(A, text="5"), "expired")
    await w.turn(A, text="no")
    book.saw(A, await w.turn(A, text="cancel order"), "expired")
    await w.turn(A, text="alert me when TCS crosses 10000")
    book.saw(A, await w.turn(A, text="my alerts"), "expired")
    offer = book.saw(A, await w.turn(A, text="upgrade"), "expired")
    book.saw(A, await w.tap(A, offer, "PRO Plus"), "expired")
    book.saw(A, await w.turn(A, text="buy 1 INFY at market"), "expired")
    await w.turn(A, text="no")
    book.expired[A] -= book.used[A]
    # A, now: a used change card, a deleted alert, live menus and rows, a plan card, then an open order card
    w.clock.set(NOW)
    menu = book.saw(A, await w.tap(A, book.saw(A, await w.turn(A, text="order status", at=NOW)), "BUY"))
    await w.tap(A, menu, "Change price")
    change = book.saw(A, await w.turn(A, text="2990"))
    changed = await w.turn(A, button=book.use(A, option(change, "Yes, change it")))
    assert changed["orders"][0]["price"] == 2990.0
    book.use(A, option(change, "Keep it"))
    await w.turn(A, text="alert me when INFY falls below 100")
    await w.turn(A, text="alert me when ITC crosses 900")
    rows = book.saw(A, await w.turn(A, text="my alerts"))
    assert "Deleted" in text(await w.turn(A, button=book.use(A, option(rows, "ITC"))))
    book.saw(A, await w.tap(A, book.saw(A, await w.turn(A, text="upgrade")), "PRO Plus"))
    book.saw(A, await w.turn(A, text="buy 1 TCS at market"))
    # B: a paid plan (its pay button used), an order, an alert, and an open card of their own
    paid = await w.turn(B, button=book.use(B, option(book.saw(B, await w.tap(
        B, book.saw(B, await w.turn(B, text="upgrade")), "PRO Starter")), "Pay")))
    assert "✅" in text(paid)
    their_card = book.saw(B, await w.turn(B, text="buy 3 ITC at 380"))
    their_order = (await w.turn(B, button=book.use(B, option(their_card, "Confirm"))))["orders"][0]["id"]
    book.use(B, option(their_card, "Cancel"))
    await w.turn(B, text="alert me when TCS falls below 100")
    book.saw(B, await w.turn(B, text="my alerts"))
    book.saw(B, await w.tap(B, book.saw(B, await w.turn(B, text="order status")), "BUY"))
    book.saw(B, await w.turn(B, text="buy 1 INFY at market"))
    alert_ids = sorted({a[0] for u in (A, B) for a in (await w.state(u))["alerts"]})
    return {"orders": [order_id, their_order], "alerts": [str(i) for i in alert_ids]}


def _tamper(payload: str, how: int, prefixes: list[str]) -> str:
    action, _, nonce = payload.partition(":")
    if how == 0 and nonce:                                   # one hex digit flipped
        return f"{action}:{nonce[:-1]}{'0' if nonce[-1] != '0' else '1'}"
    if how == 1:                                              # the nonce moved to another action
        return f"{prefixes[len(nonce) % len(prefixes)] if action == prefixes[0] else prefixes[0]}:{nonce}"
    if how == 2:
        return payload + ":q40"
    if how == 3:
        return payload.upper()
    return payload[:-1]


def test_no_tapped_payload_changes_any_state(tmp_path: Path, capsys) -> None:
    prefixes = router_prefixes()
    assert {"tconfirm", "tcancel", "omanage", "ocancel", "omodprice", "omodqty", "omodyes", "ocancelyes",
            "alertdel", "plan", "planpay"} <= set(prefixes), prefixes
    all_prefixes = prefixes + list(EXTRA_PREFIXES)
    stats: Counter = Counter()
    with asyncio.Runner() as runner:
        db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}")
        w = runner.run(open_world(db, tmp_path, at=EARLY))
        book = Book()
        try:
            ids = runner.run(_build(w, book))

            async def snapshot() -> dict[str, Any]:
                return {u: {"state": await w.state(u), "session": await w.sessions.load(u),
                            "user": await w.services.users.get(u)} for u in (A, B)}

            world = runner.run(snapshot())
            assert world[A]["state"]["orders"][0][1] == "OPEN" and world[A]["state"]["alerts"]
            assert '"awaiting":"confirmation"' in world[A]["session"] and world[B]["state"]["tier"] == "PRO"
            values = st.one_of(
                st.text(max_size=300), st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
                st.sampled_from(ids["orders"] + ids["alerts"] + ["trial", "pro99", "pro499", "pro999",
                                                                  "market", "TCS", "today", "yes", "no",
                                                                  "page:2"]),
                st.builds(lambda o, v: f"{o}:{v}", st.sampled_from(ids["orders"]),
                          st.sampled_from(["q40", "p320000", "q1", "p1"])))

            async def restore() -> None:
                for u in (A, B):
                    saved = world[u]
                    await w.sessions.save(u, saved["session"], ttl_s=3600)
                    user = await w.services.users.get(u)
                    if user.language != saved["user"].language or user.profile.get(HANDOFF):
                        await w.services.users.update(u, language=saved["user"].language,
                                                      profile_changes={HANDOFF: None})

            def send(sender: str, payload: str, kind: str) -> None:
                if payload in book.live[sender]:
                    stats["live_skipped"] += 1      # a button this user may really tap (a plain "plancancel")
                    return
                trace = runner.run(w.channel.turn(sender, button=payload, at=NOW))
                stats["taps"] += 1
                stats[kind] += 1
                after = {u: runner.run(w.state(u)) for u in (A, B)}
                changed = [u for u in (A, B) if after[u] != world[u]["state"]]
                stats["state_changes"] += bool(changed)
                stats["errors"] += trace["status"] == "error"
                runner.run(restore())
                assert trace["status"] != "error", (payload, trace)
                assert trace["replies"] and trace["orders"] == [], (payload, trace)
                assert not changed, (kind, sender, payload, text(trace))

            # every prefix at least once, bare and with the values an attacker would try first
            for prefix in all_prefixes:
                for value in (None, ids["orders"][0], f"{ids['orders'][0]}:q40", ids["alerts"][0], "trial",
                              "0123456789abcdef"):
                    send(A, prefix if value is None else f"{prefix}:{value}", "sweep")

            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
            @given(st.data())
            def tap(data) -> None:
                sender = data.draw(st.sampled_from([A, B]))
                other = B if sender == A else A
                kind = data.draw(st.sampled_from(KINDS))
                if kind == "crafted":
                    prefix = data.draw(st.sampled_from(all_prefixes))
                    value = data.draw(st.one_of(st.none(), values))
                    payload = prefix if value is None else f"{prefix}:{value}"
                elif kind == "replayed":
                    payload = data.draw(st.sampled_from(sorted(book.used[sender])))
                elif kind == "other_user":
                    payload = data.draw(st.sampled_from(sorted(book.live[other] | book.used[other])))
                elif kind == "expired":
                    payload = data.draw(st.sampled_from(sorted(book.expired[A])))
                else:
                    pool = sorted(book.live[sender] | book.used[sender] | book.expired[sender])
                    how = data.draw(st.integers(0, 4))
                    payload = _tamper(data.draw(st.sampled_from(pool)), how, prefixes)
                send(sender, payload, kind)

            tap()
        finally:
            runner.run(w.close())
            runner.run(db.dispose())
    assert stats["state_changes"] == 0 and stats["errors"] == 0
    assert stats["sweep"] + stats["live_skipped"] >= 6 * len(all_prefixes) and stats["sweep"] > 150
    assert all(stats[k] for k in KINDS), stats
    if FUZZ_EXAMPLES:
        with capsys.disabled():
            print(f"\nbound-button fuzz: {dict(stats)} over {len(all_prefixes)} prefixes")
