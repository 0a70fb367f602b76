"""The world the webhook fuzz runs in: the real aiohttp app (``bot.webhook``) on a test server with the embedded
roles (intake, worker, engine, pywa sender) behind it, sending to the fake Graph API on 127.0.0.1, every log
line (structlog and stdlib) captured — and the state a fuzzed message must never change, read back through the
engine API and the stores.

Users: ``A`` (LITE) has a resting order and an alert; ``B`` (PRO, a paid plan) has their own order and alert;
neither has an open confirmation card when the fuzz starts. ``S`` is onboarded and has never confirmed a card.
Strangers write for the first time. Every button each user was shown during the set-up is filed as used,
expired (shown before the clock moved on) or live, so the fuzz can replay, tamper with and cross them.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.logging import LogRateLimiter, configure_logging
from bot.roles import build_roles
from bot.stores.alerts import alerts as alerts_table
from bot.webhook import create_web_app
from bot.whatsapp.client import build_client
from config.settings import load_settings
from engine.clock import IST, FixedClock
from engine.tables import orders as orders_table
from engine.tables import trades as trades_table
from handlers.handoff import HANDOFF
from handlers.upgrade import PLAN, TRIAL_USED
from tests.support import payloads as p
from tests.support.graph_api import FakeGraphAPI

EARLY = datetime(2026, 11, 23, 9, 20, tzinfo=IST)     # cards and menus shown here have expired by NOW
NOW = datetime(2026, 11, 23, 10, 25, tzinfo=IST)
A, B, S = "919800007301", "919800007302", "919800007303"
_strangers = itertools.count(1)
PINS = {A: "975310", B: "864209", S: "531086"}
_mids = itertools.count(1)


def stranger() -> str:
    """A number that never wrote before."""
    return f"9197{next(_strangers):08d}"


def mid() -> str:
    return f"wamid.FUZZ{next(_mids):012d}"


def shown_ids(sent: dict[str, Any]) -> list[str]:
    """The button and list-row ids of one message we sent."""
    action = (sent.get("interactive") or {}).get("action") or {}
    ids = [b["reply"]["id"] for b in action.get("buttons") or []]
    ids += [r["id"] for s in action.get("sections") or [] for r in s.get("rows") or []]
    return ids


def title_of(sent: list[dict[str, Any]], title: str) -> str:
    for m in sent:
        action = (m.get("interactive") or {}).get("action") or {}
        for b in action.get("buttons") or []:
            if b["reply"]["title"].startswith(title):
                return b["reply"]["id"]
        for s in action.get("sections") or []:
            for r in s.get("rows") or []:
                if r["title"].startswith(title):
                    return r["id"]
    raise AssertionError(f"no option {title!r} in {sent}")


def body_text(sent: dict[str, Any]) -> str:
    if sent.get("type") == "text":
        return sent["text"]["body"]
    if sent.get("type") == "interactive":
        return sent["interactive"]["body"]["text"]
    return ""


@dataclass
class Book:
    """The payloads each user was shown, by what they are now."""

    live: dict[str, set[str]] = field(default_factory=dict)
    used: dict[str, set[str]] = field(default_factory=dict)
    expired: dict[str, set[str]] = field(default_factory=dict)

    def saw(self, user: str, sent: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        sent = list(sent)
        for m in sent:
            self.live.setdefault(user, set()).update(shown_ids(m))
        return sent

    def use(self, user: str, payload: str) -> str:
        self.live.setdefault(user, set()).discard(payload)
        self.used.setdefault(user, set()).add(payload)
        return payload

    def expire_all(self) -> None:
        for user, live in self.live.items():
            self.expired.setdefault(user, set()).update(live - self.used.get(user, set()))
            live.clear()


@dataclass
class FuzzWorld:
    http: TestClient
    graph: FakeGraphAPI
    roles: Any
    clock: FixedClock
    logs: io.StringIO
    book: Book = field(default_factory=Book)
    ids: dict[str, list[str]] = field(default_factory=dict)
    saved: dict[str, Any] = field(default_factory=dict)

    @property
    def runtime(self):
        return self.roles.runtime

    # -- sending ----------------------------------------------------------------------------------------------
    async def post_raw(self, raw: bytes, *, signature: str | None = "auto", content_type: str = "application/json"):
        headers = {"Content-Type": content_type}
        if signature == "auto":
            headers["X-Hub-Signature-256"] = p.sign(raw)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        response = await self.http.post("/webhook", data=raw, headers=headers)
        await response.read()
        return response

    async def post(self, messages: list[dict[str, Any]], contacts: list[dict[str, Any]]) -> int:
        return (await self.post_raw(p.raw(p.envelope(p.messages_value(messages, contacts))))).status

    async def say(self, phone: str, message: dict[str, Any]) -> list[dict[str, Any]]:
        """One message from ``phone``; the messages sent back to them."""
        before = len(self.graph.messages)
        status = await self.post([message], [p.contact(phone)])
        assert status == 200, status
        await self.roles.settle(timeout=30)
        return [m for m in self.graph.messages[before:] if m.get("to") == phone]

    async def text(self, phone: str, body: str) -> list[dict[str, Any]]:
        return self.book.saw(phone, await self.say(phone, p.text(phone, body, mid=mid())))

    async def tap(self, phone: str, payload: str) -> list[dict[str, Any]]:
        self.book.use(phone, payload)
        return self.book.saw(phone, await self.say(phone, p.button_reply(phone, payload, "x", mid=mid())))

    # -- the state a fuzzed message must not change ------------------------------------------------------------
    async def user_state(self, phone: str) -> dict[str, Any]:
        services = self.runtime.services
        record = await self.runtime.users.find(phone)
        alerts = sorted((a.id, a.symbol, a.direction, a.target_paise, a.triggered_at is not None)
                        for a in await services.alerts.for_user(record.key)) if record else []
        if record is None or not record.account:
            return {"user": None, "alerts": alerts}
        engine = services.engine
        try:
            funds = await engine.funds(record.account)
            cash = (funds.cash_paise, funds.blocked_paise, funds.available_paise)
        except Exception as exc:  # noqa: BLE001 - an account the engine does not know: recorded as such
            cash = type(exc).__name__
        return {
            "orders": sorted((o.order_id, o.status.value, o.quantity, o.price_paise, o.trigger_paise,
                              o.filled_quantity) for o in await engine.orders(record.account)),
            "trades": len(await engine.trades(record.account)),
            "holdings": sorted(repr(h) for h in await engine.holdings(record.account)),
            "positions": sorted(repr(x) for x in await engine.positions(record.account)),
            "cash": cash, "alerts": alerts, "tier": record.tier.value, "plan": record.profile.get(PLAN),
            "trial_used": record.profile.get(TRIAL_USED),
        }

    async def snapshot(self) -> dict[str, Any]:
        """The known users' states, and the row counts of the tables an order, trade or alert lands in (any user:
        a stranger's first message opens an account, and may credit it, but must not place or alert)."""
        state: dict[str, Any] = {u: await self.user_state(u) for u in (A, B, S)}
        async with self.runtime.db.connect() as conn:
            for table in (orders_table, trades_table, alerts_table):
                state[f"rows:{table.name}"] = (await conn.execute(select(func.count()).select_from(table))).scalar()
        return state

    async def remember_sessions(self) -> None:
        store = self.runtime.sessions
        self.saved = {"sessions": dict(store._data),
                      "languages": {k: (await self.runtime.users.get(k)).language for k in await self._keys()}}

    async def _keys(self) -> list[str]:
        return list(await self.runtime.users.all_keys())

    async def restore(self) -> None:
        """Put every session back (the memory store's table as it was), and a language or handoff a harmless
        message may have switched: so every example meets the same world (a typed "yes" after a fuzzed
        "buy 5 TCS" would be a real confirmation)."""
        store = self.runtime.sessions
        store._data.clear()
        store._data.update(self.saved["sessions"])
        for key in self.saved["languages"]:     # the users of the set-up (strangers never write twice)
            user = await self.runtime.users.get(key)
            language = self.saved["languages"].get(key, user.language)
            if user.language != language or user.profile.get(HANDOFF):
                await self.runtime.users.update(key, language=language, profile_changes={HANDOFF: None})

    # -- logs --------------------------------------------------------------------------------------------------
    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.logs.getvalue().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": line, "level": "unparsed"})
        return out

    def bad_log_lines(self, since: int = 0) -> list[dict[str, Any]]:
        """Error lines, tracebacks and anything that is not one of our JSON lines."""
        return [line for line in self.log_lines()[since:]
                if line.get("level") in ("error", "critical", "unparsed") or "exception" in line
                or "Traceback" in str(line.get("event"))]


async def open_fuzz_world(tmp_path: Path) -> tuple[FuzzWorld, Any]:
    """Start the world; returns it and an async ``close``."""
    logs = io.StringIO()
    configure_logging("INFO", stream=logs, limiter=LogRateLimiter())
    clock = FixedClock(EARLY)
    graph = await FakeGraphAPI().start()
    settings = load_settings({
        "WHATSAPP_APP_SECRET": p.APP_SECRET, "WHATSAPP_VERIFY_TOKEN": "verify-me", "WHATSAPP_TOKEN": "EAAtoken",
        "WHATSAPP_PHONE_NUMBER_ID": p.PHONE_NUMBER_ID, "WHATSAPP_GRAPH_URL": graph.url,
        "WHATSAPP_API_VERSION": "22.0", "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
        "GRIDWORKS_STATE_DIR": str(tmp_path / "state"), "GRIDWORKS_TICK_SECONDS": "3600",
    })
    client = build_client(settings.whatsapp)
    roles = await build_roles(settings, client=client, clock=clock, tick_seconds=3600)
    app = create_web_app(settings=settings, client=client, intake=roles.intake, db=roles.runtime.db, roles=roles)
    http = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    world = FuzzWorld(http=http, graph=graph, roles=roles, clock=clock, logs=logs)

    async def close() -> None:
        try:
            await http.close()
            await graph.stop()
        finally:
            configure_logging("WARNING")

    return world, close


async def onboard(w: FuzzWorld, phone: str) -> None:
    await w.text(phone, "hello")
    await w.tap(phone, "onb_lang:en")
    await w.tap(phone, "onb_consent:yes")
    done = await w.say(phone, p.text(phone, PINS[phone], mid=mid()))
    assert any("PIN set" in body_text(m) for m in done), done


async def build(w: FuzzWorld) -> None:
    """The set-up (see the module docstring), through the webhook like any user."""
    for user in (A, B, S):
        await onboard(w, user)
    # early: cards and menus shown, then left to expire
    card = await w.text(A, "buy 2 TCS at 3000")
    placed = await w.tap(A, title_of(card, "Confirm"))
    assert any("TCS" in body_text(m) for m in placed)
    menu = await w.text(A, "order status")
    await w.tap(A, title_of(menu, "BUY"))
    await w.text(A, "alert me when TCS crosses 10000")
    await w.text(A, "my alerts")
    offer = await w.text(A, "upgrade")
    await w.tap(A, title_of(offer, "PRO Plus"))
    await w.text(A, "buy 1 INFY at market")
    await w.text(A, "no")
    await w.text(S, "buy 1 ITC at market")              # S never confirms: that card expires
    w.book.expire_all()
    w.clock.set(NOW)
    # now: a used change card, a deleted alert, a paid plan for B, B's own order and alert
    menu = await w.tap(A, title_of(await w.text(A, "order status"), "BUY"))
    change = await w.tap(A, title_of(menu, "Change price"))
    confirm = await w.text(A, "2990")
    await w.tap(A, title_of(confirm, "Yes, change it"))
    w.book.use(A, title_of(confirm, "Keep it"))
    await w.text(A, "alert me when ITC crosses 900")
    rows = await w.text(A, "my alerts")
    await w.tap(A, title_of(rows, "ITC"))
    await w.text(A, "alert me when INFY falls below 100")
    plans = await w.tap(B, title_of(await w.text(B, "upgrade"), "PRO Starter"))
    await w.tap(B, title_of(plans, "Pay"))
    card = await w.text(B, "buy 3 ITC at 380")
    await w.tap(B, title_of(card, "Confirm"))
    w.book.use(B, title_of(card, "Cancel"))
    await w.text(B, "alert me when TCS falls below 100")
    await w.text(B, "my alerts")
    await w.tap(B, title_of(await w.text(B, "order status"), "BUY"))
    del change
    state = await w.snapshot()
    assert state[A]["orders"] and state[A]["orders"][0][1] == "OPEN" and state[A]["alerts"], state[A]
    assert state[B]["tier"] == "PRO" and state[B]["orders"] and state[B]["alerts"], state[B]
    w.ids = {"orders": [o[0] for u in (A, B) for o in state[u]["orders"]],
             "alerts": [str(a[0]) for u in (A, B) for a in state[u]["alerts"]]}
    await w.remember_sessions()
