"""``gridworks handoff list|inbox|reply|release``: the operator's side of a human handoff.

``inbox`` shows who waits (oldest first), for how long, and what they wrote since they asked for a person.
``reply WA_ID "text"`` delivers the agent's words through the bot's own channel — the cluster's outbound
queue (sent in order with the bot's replies, at the number's rate) or, embedded, the WhatsApp client — and
records them in the audit log like every reply. ``release`` hands the conversation back to the bot and tells
the user so. Texts typed by users are shown to the operator only here, never logged.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from bot.cli.common import fail

#: How many of a waiting user's messages ``inbox`` shows.
INBOX_MESSAGES = 5


def register(sub) -> None:
    handoff = sub.add_parser("handoff", help="conversations handed to a human agent", epilog=(
        "examples:\n  gridworks handoff inbox\n  gridworks handoff reply 919800000001 \"Hello, I'm Meera from "
        "GridWorks. Your order is safe.\"\n  gridworks handoff release 919800000001"))
    hsub = handoff.add_subparsers(dest="handoff_command", metavar="ACTION")
    hsub.required = True
    p = hsub.add_parser("list", help="users waiting for or talking with an agent (one JSON line each)")
    p.set_defaults(func=_run, action="list")
    p = hsub.add_parser("inbox", help="who waits, for how long, and their last messages")
    p.add_argument("--json", action="store_true", help="one JSON line per waiting user")
    p.set_defaults(func=_run, action="inbox")
    p = hsub.add_parser("reply", help="answer a waiting user through the bot's channel")
    p.add_argument("wa_id", help="WhatsApp number, BSUID or user key")
    p.add_argument("text", help="what the agent says")
    p.set_defaults(func=_run, action="reply")
    p = hsub.add_parser("release", help="hand the conversation back to the bot (the user is told)")
    p.add_argument("wa_id", help="WhatsApp number, BSUID or user key")
    p.set_defaults(func=_run, action="release")


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.cli.common import settings as load

    return asyncio.run(run_action(load(), args))


async def run_action(settings: Any, args: argparse.Namespace) -> int:
    from bot.app import make_clock
    from bot.cli.common import open_database
    from bot.stores.crypto import DataCipher
    from bot.stores.sql import SqlAuditLog, SqlUserRepository, create_schema
    from handlers.handoff import agent_replies, flagged, hand_back, handoff_state

    db = await open_database(settings)
    try:
        await create_schema(db)
        cipher = DataCipher.from_secrets(settings.secrets)
        users = SqlUserRepository(db, cipher=cipher)
        now = make_clock(settings, simulated=False).now()
        if args.action in ("list", "inbox"):
            for user, since in await flagged(users):
                row = {"key": user.key, "name": user.name, "since": since.isoformat(), "language": user.language}
                if args.action == "inbox":
                    row["waiting_minutes"] = max(0, int((now - since).total_seconds() // 60))
                    row["messages"] = await _messages_since(db, cipher, user.key, since)
                if args.action == "list" or getattr(args, "json", False):
                    print(json.dumps(row, ensure_ascii=False))
                else:
                    print(_inbox_entry(row))
            return 0
        user = await users.find(args.wa_id.lstrip("+"))
        if user is None:
            return fail(f"no user {args.wa_id}")
        if handoff_state(user) is None:
            return fail(f"{args.wa_id} is not handed off (the bot answers them)")
        from locales.catalog import load_catalog

        t = load_catalog().translator(user.language or "en")
        if args.action == "reply":
            try:
                replies = agent_replies(t, args.text)
            except ValueError as exc:
                return fail(str(exc))
            if not _can_deliver(settings):
                return fail("no channel to deliver through: set WHATSAPP_TOKEN (or REDIS_URL for a cluster)")
            await _deliver(settings, db, SqlAuditLog(db, cipher=cipher), user, replies,
                           key=f"agent:{now.isoformat()}")
            print(json.dumps({"key": user.key, "delivered": True}))
            return 0
        if args.action == "release":
            notice = await hand_back(users, user, t)
            told = False
            if _can_deliver(settings):        # best effort: the release stands even if the notice fails
                try:
                    await _deliver(settings, db, SqlAuditLog(db, cipher=cipher), user, notice,
                                   key=f"release:{now.isoformat()}")
                    told = True
                except Exception as exc:  # noqa: BLE001 - reported in the output, the release is done
                    print(f"gridworks: the user was released but not told ({type(exc).__name__})", file=sys.stderr)
            print(json.dumps({"key": user.key, "released": True, "told": told}))
            return 0
        return fail(f"unknown action {args.action}")
    finally:
        await db.dispose()


async def _messages_since(db: Any, cipher: Any, user_key: str, since: datetime) -> list[dict[str, str]]:
    """The user's last :data:`INBOX_MESSAGES` inbound texts since the handoff (opened when sealed)."""
    from sqlalchemy import select

    from bot.stores.sql import messages, open_body

    q = (select(messages.c.body, messages.c.created_at, messages.c.kind)
         .where(messages.c.user_key == user_key, messages.c.direction == "in", messages.c.created_at >= since)
         .order_by(messages.c.id.desc()).limit(INBOX_MESSAGES))
    async with db.connect() as conn:
        rows = list(await conn.execute(q))
    return [{"at": r.created_at.isoformat(), "text": open_body(cipher, user_key, r.body) or f"[{r.kind}]"}
            for r in reversed(rows)]


def _inbox_entry(row: dict[str, Any]) -> str:
    head = f"{row['key']} ({row['name'] or '-'}, {row['language'] or '-'}) waiting {row['waiting_minutes']} min"
    lines = [f"  {m['at'][11:16]}  {m['text']}" for m in row["messages"]] or ["  (no message since the handoff)"]
    return "\n".join([head, *lines])


def _can_deliver(settings: Any) -> bool:
    return bool(settings.storage.redis_url or settings.whatsapp.token)


async def _deliver(settings: Any, db: Any, audit: Any, user: Any, replies: list[Any], *, key: str) -> None:
    """Through the channel the bot's own replies take: the cluster's outbound queue, else the WhatsApp client
    (which records the reply in the audit log)."""
    if settings.storage.redis_url:
        import redis.asyncio as redis

        from bot.cluster.outbound import RedisOutbound
        from bot.cluster.push import OutboundMessenger

        client = redis.from_url(settings.storage.redis_url)
        try:
            queue = RedisOutbound(client, partitions=settings.cluster.partitions, prefix=settings.cluster.prefix)
            await OutboundMessenger(queue, partitions=settings.cluster.partitions).push(user, replies, key=key)
        finally:
            await client.aclose()
        return
    from bot.whatsapp.client import build_client, close_client
    from bot.whatsapp.sender import WhatsAppMessenger

    client = build_client(settings.whatsapp)
    try:
        sent = await WhatsAppMessenger(client, audit=audit).push(user, replies)
    finally:
        await close_client(client)
    if len(sent) != len(replies):
        raise RuntimeError("WhatsApp did not accept the message (see the log); the user has not received it")
