"""Campaign state in the database: the plan (audience × arm), each send's state, taps and conversions.

Also the port the chat handlers use (``services.extras["campaigns"]``): a nudge button's payload carries only
a nonce; :meth:`CampaignStore.resolve` finds which campaign and arm it was issued for — and only for the user
who taps it — so a crafted, another user's or unknown payload changes nothing.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import and_, bindparam, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.campaigns import tables as T
from bot.campaigns.facts import audience_query, profile_flag
from bot.stores.sql import messages, users
from campaigns.assign import arm_for
from campaigns.definition import Campaign
from campaigns.segment import compile_rule

ACTIVE = ("queued", "sending", "sent", "unknown")    # states that count against the frequency cap
_CHUNK = 2000


def _insert(db: AsyncEngine, table):
    if db.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Nudge:
    """What a tapped nudge button was issued for."""

    campaign: str
    arm: str
    user_key: str
    nonce: str = ""


@dataclass(frozen=True, slots=True)
class Recipient:
    """One user of a send batch, as loaded at send time."""

    key: str
    arm: str
    nonce: str
    tier: str
    phone: str | None
    bsuid: str | None
    language: str
    opted_out: bool
    recent_marketing: int
    suppressed: bool


class CampaignStore:
    def __init__(self, db: AsyncEngine, *, privacy_words: Sequence[str] = ()) -> None:
        self.db = db
        self.privacy_words = tuple(privacy_words)

    async def create_schema(self) -> None:
        await T.create_schema(self.db)

    # -- campaigns ----------------------------------------------------------------------------------
    async def save(self, c: Campaign, now: datetime) -> str:
        """Record the campaign (first time: ``planned``); returns its state."""
        async with self.db.begin() as conn:
            row = (await conn.execute(select(T.campaigns.c.state).where(T.campaigns.c.id == c.id))).first()
            if row is not None:
                return row.state
            await conn.execute(T.campaigns.insert().values(
                id=c.id, name=c.name, definition=json.dumps(c.source, default=str, ensure_ascii=False),
                state="planned", audience=0, created_at=now, updated_at=now))
        return "planned"

    async def state(self, campaign_id: str) -> str | None:
        async with self.db.connect() as conn:
            return (await conn.execute(select(T.campaigns.c.state).where(T.campaigns.c.id == campaign_id))).scalar()

    async def definition(self, campaign_id: str) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            raw = (await conn.execute(select(T.campaigns.c.definition)
                                      .where(T.campaigns.c.id == campaign_id))).scalar()
        return json.loads(raw) if raw else None

    async def set_state(self, campaign_id: str, state: str, now: datetime) -> bool:
        async with self.db.begin() as conn:
            done = await conn.execute(update(T.campaigns).where(T.campaigns.c.id == campaign_id)
                                      .values(state=state, updated_at=now))
        return bool(done.rowcount)

    async def list(self) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            rows = await conn.execute(select(T.campaigns).order_by(T.campaigns.c.created_at))
            return [dict(r._mapping) for r in rows]

    # -- audience -----------------------------------------------------------------------------------
    def audience_select(self, c: Campaign, now: datetime):
        query, facts = audience_query(now, self.db.dialect.name, privacy_words=self.privacy_words)
        return query.where(compile_rule(c.segment, facts, now=now))

    async def audience(self, c: Campaign, now: datetime) -> list[tuple[str, str | None]]:
        async with self.db.connect() as conn:
            return [(r.key, r.language) for r in await conn.execute(self.audience_select(c, now))]

    async def count_audience(self, c: Campaign, now: datetime) -> int:
        sub = self.audience_select(c, now).subquery()
        async with self.db.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(sub))).scalar() or 0)

    async def planned(self, campaign_id: str) -> bool:
        async with self.db.connect() as conn:
            return (await conn.execute(select(T.sends.c.user_key).where(T.sends.c.campaign == campaign_id)
                                       .limit(1))).first() is not None

    async def plan(self, c: Campaign, now: datetime) -> Counter[str]:
        """Freeze the audience once: one row per user with their arm (``holdout`` rows are never sent)."""
        if await self.planned(c.id):
            return await self.arm_sizes(c.id)
        audience = await self.audience(c, now)
        rows = []
        for key, lang in audience:
            arm = arm_for(c.id, key, c.arms)
            rows.append(dict(campaign=c.id, user_key=key, arm=arm.name, state="holdout" if arm.holdout else "planned",
                             nonce=secrets.token_hex(8), language=lang, planned_at=now))
        async with self.db.begin() as conn:
            for start in range(0, len(rows), _CHUNK):
                await conn.execute(_insert(self.db, T.sends).on_conflict_do_nothing(), rows[start:start + _CHUNK])
            await conn.execute(update(T.campaigns).where(T.campaigns.c.id == c.id)
                               .values(audience=len(rows), updated_at=now))
        return Counter(r["arm"] for r in rows)

    async def arm_sizes(self, campaign_id: str) -> Counter[str]:
        async with self.db.connect() as conn:
            rows = await conn.execute(select(T.sends.c.arm, func.count()).where(T.sends.c.campaign == campaign_id)
                                      .group_by(T.sends.c.arm))
            return Counter({r[0]: int(r[1]) for r in rows})

    async def states(self, campaign_id: str) -> Counter[str]:
        async with self.db.connect() as conn:
            rows = await conn.execute(select(T.sends.c.state, func.count())
                                      .where(T.sends.c.campaign == campaign_id).group_by(T.sends.c.state))
            return Counter({r[0]: int(r[1]) for r in rows})

    # -- sending ------------------------------------------------------------------------------------
    async def resend_unknown(self, campaign_id: str, older_than: datetime) -> int:
        """``unknown`` rows no status has confirmed since before ``older_than``: Meta never took them (its
        ``sent`` status, carrying our tracker, arrives within seconds), so they may be sent again."""
        async with self.db.begin() as conn:
            done = await conn.execute(update(T.sends).where(T.sends.c.campaign == campaign_id,
                                                            T.sends.c.state == "unknown", T.sends.c.at < older_than)
                                      .values(state="planned", at=None))
        return done.rowcount

    async def recover(self, campaign_id: str, now: datetime) -> tuple[int, int]:
        """After a crash: ``queued`` rows (never handed to the Graph API) go back to ``planned``; ``sending``
        rows (a Graph call whose answer was lost) become ``unknown`` and are never sent again."""
        async with self.db.begin() as conn:
            back = await conn.execute(update(T.sends).where(T.sends.c.campaign == campaign_id,
                                                            T.sends.c.state == "queued")
                                      .values(state="planned", at=None))
            lost = await conn.execute(update(T.sends).where(T.sends.c.campaign == campaign_id,
                                                            T.sends.c.state == "sending")
                                      .values(state="unknown"))     # ``at``: when its Graph call began
        return back.rowcount, lost.rowcount

    async def next_batch(self, c: Campaign, now: datetime, count: int) -> list[Recipient]:
        """Up to ``count`` planned users with what the send-time checks need (current tier, opt-out, how many
        marketing templates they got inside the cap window, a "Not interested" to this campaign)."""
        opted = profile_flag("marketing_opt_out", self.db.dialect.name)
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                select(T.sends.c.user_key, T.sends.c.arm, T.sends.c.nonce, users.c.tier, users.c.phone,
                       users.c.bsuid, users.c.language, opted.label("opted_out"))
                .select_from(T.sends.join(users, users.c.key == T.sends.c.user_key))
                .where(T.sends.c.campaign == c.id, T.sends.c.state == "planned")
                .order_by(T.sends.c.user_key).limit(count))).all()
            return await self._with_history(conn, c, rows, now)

    async def recipients(self, c: Campaign, keys: Sequence[str], now: datetime) -> list[Recipient]:
        """The send-time facts of ``keys`` without a plan (``run --dry-run``)."""
        opted = profile_flag("marketing_opt_out", self.db.dialect.name)
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                select(users.c.key.label("user_key"), literal("").label("arm"), literal("").label("nonce"),
                       users.c.tier, users.c.phone, users.c.bsuid, users.c.language, opted.label("opted_out"))
                .where(users.c.key.in_(list(keys))))).all()
            return await self._with_history(conn, c, rows, now)

    async def _with_history(self, conn, c: Campaign, rows: Sequence[Any], now: datetime) -> list[Recipient]:
        keys = [r.user_key for r in rows]
        if not keys:
            return []
        since = now - timedelta(days=c.policy.cap_days)
        recent = dict((await conn.execute(
            select(T.sends.c.user_key, func.count()).where(T.sends.c.user_key.in_(keys),
                                                            T.sends.c.state.in_(ACTIVE), T.sends.c.at >= since)
            .group_by(T.sends.c.user_key))).all())
        said_no = {r[0] for r in await conn.execute(
            select(T.events.c.user_key).where(T.events.c.campaign == c.id, T.events.c.kind == "tap_no",
                                              T.events.c.user_key.in_(keys)))}
        return [Recipient(key=r.user_key, arm=r.arm, nonce=r.nonce, tier=r.tier, phone=r.phone, bsuid=r.bsuid,
                          language=r.language or "en", opted_out=bool(r.opted_out),
                          recent_marketing=int(recent.get(r.user_key, 0)), suppressed=r.user_key in said_no)
                for r in rows]

    async def set_send_states(self, campaign_id: str, changes: Iterable[tuple[str, str, str | None]],
                              now: datetime) -> None:
        """(user, state, reason) for many users in one transaction."""
        grouped: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        for key, state, reason in changes:
            grouped[(state, reason)].append(key)
        if not grouped:
            return
        async with self.db.begin() as conn:
            for (state, reason), keys in grouped.items():
                await conn.execute(update(T.sends).where(T.sends.c.campaign == campaign_id,
                                                         T.sends.c.user_key.in_(keys))
                                   .values(state=state, reason=reason, at=now))

    async def mark(self, campaign_id: str, user_key: str, *, state: str, now: datetime, wamid: str | None = None,
                   error_code: int | None = None) -> None:
        async with self.db.begin() as conn:
            await conn.execute(update(T.sends).where(T.sends.c.campaign == campaign_id, T.sends.c.user_key == user_key)
                               .values(state=state, wamid=wamid, error_code=error_code, at=now))

    async def mark_many(self, campaign_id: str, marks: Sequence[tuple[str, str, str | None, int | None]],
                        now: datetime) -> None:
        """(user, state, wamid, error code) for many sends in one transaction (the runner's group commit)."""
        if not marks:
            return
        stmt = (update(T.sends).where(T.sends.c.campaign == bindparam("c"), T.sends.c.user_key == bindparam("u"))
                .values(state=bindparam("s"), wamid=bindparam("w"), error_code=bindparam("e"), at=bindparam("t")))
        async with self.db.begin() as conn:
            await conn.execute(stmt, [dict(c=campaign_id, u=u, s=s, w=w, e=e, t=now) for u, s, w, e in marks])

    async def trigger_nudge(self, campaign_id: str, definition: Mapping[str, Any], user_key: str, arm: str,
                            now: datetime, *, cap_days: int, cap_count: int) -> Nudge | None:
        """The always-on trigger's once-per-user offer: the user's row in ``campaign_id`` (``sent``, or
        ``holdout`` for the control arm), or None when they had it already or the frequency cap holds."""
        since = now - timedelta(days=cap_days)
        async with self.db.begin() as conn:
            if (await conn.execute(select(T.campaigns.c.id).where(T.campaigns.c.id == campaign_id))).first() is None:
                await conn.execute(_insert(self.db, T.campaigns).on_conflict_do_nothing(), [dict(
                    id=campaign_id, name=str(definition.get("name") or campaign_id), state="running", audience=0,
                    definition=json.dumps(definition, default=str), created_at=now, updated_at=now)])
            if (await conn.execute(select(T.sends.c.user_key).where(T.sends.c.campaign == campaign_id,
                                                                    T.sends.c.user_key == user_key))).first():
                return None
            recent = (await conn.execute(select(func.count()).select_from(T.sends).where(
                T.sends.c.user_key == user_key, T.sends.c.state.in_(ACTIVE), T.sends.c.at >= since))).scalar()
            if arm != "control" and int(recent or 0) >= cap_count:
                return None
            done = await conn.execute(_insert(self.db, T.sends).on_conflict_do_nothing(), [dict(
                campaign=campaign_id, user_key=user_key, arm=arm, state="holdout" if arm == "control" else "sent",
                nonce=secrets.token_hex(8), planned_at=now, at=now)])
            if not done.rowcount:
                return None
            nonce = (await conn.execute(select(T.sends.c.nonce).where(T.sends.c.campaign == campaign_id,
                                                                      T.sends.c.user_key == user_key))).scalar()
        return Nudge(campaign=campaign_id, arm=arm, user_key=user_key, nonce=nonce)

    # -- the chat port --------------------------------------------------------------------------------
    async def resolve(self, user_key: str, nonce: str) -> Nudge | None:
        """The nudge ``nonce`` was issued to ``user_key`` for, or None (crafted, another user's, unknown)."""
        if not nonce or len(nonce) > 16:
            return None
        async with self.db.connect() as conn:
            row = (await conn.execute(select(T.sends.c.campaign, T.sends.c.arm, T.sends.c.user_key)
                                      .where(T.sends.c.nonce == nonce))).first()
        if row is None or row.user_key != user_key:
            return None
        return Nudge(campaign=row.campaign, arm=row.arm, user_key=row.user_key)

    async def record(self, nudge: Nudge, kind: str, now: datetime) -> None:
        async with self.db.begin() as conn:
            await conn.execute(T.events.insert().values(campaign=nudge.campaign, user_key=nudge.user_key,
                                                        arm=nudge.arm, kind=kind, at=now))

    async def attribute(self, user_key: str, kind: str, now: datetime, *, days: int = 30) -> int:
        """A trial or payment by ``user_key``: counted for every campaign that planned them in the last
        ``days`` (the holdout too: its organic conversions are the baseline)."""
        since = now - timedelta(days=days)
        async with self.db.begin() as conn:
            rows = (await conn.execute(select(T.sends.c.campaign, T.sends.c.arm).where(
                T.sends.c.user_key == user_key, T.sends.c.planned_at >= since))).all()
            for row in rows:
                await conn.execute(T.events.insert().values(campaign=row.campaign, user_key=user_key, arm=row.arm,
                                                            kind=kind, at=now))
        return len(rows)

    # -- funnel ---------------------------------------------------------------------------------------
    async def funnel_rows(self, campaign_id: str) -> list[dict[str, Any]]:
        """Per user: arm, send state, delivery status and error from the audit log, current tier and opt-out."""
        opted = profile_flag("marketing_opt_out", self.db.dialect.name)
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(T.sends.c.user_key, T.sends.c.arm, T.sends.c.state, T.sends.c.reason, T.sends.c.at,
                       T.sends.c.error_code.label("send_error"), messages.c.status, messages.c.status_at,
                       messages.c.error_code, users.c.tier, opted.label("opted_out"))
                .select_from(T.sends.outerjoin(messages, and_(messages.c.wamid == T.sends.c.wamid,
                                                              messages.c.direction == "out"))
                             .outerjoin(users, users.c.key == T.sends.c.user_key))
                .where(T.sends.c.campaign == campaign_id))
            return [dict(r._mapping) for r in rows]

    async def events_of(self, campaign_id: str) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            rows = await conn.execute(select(T.events).where(T.events.c.campaign == campaign_id))
            return [dict(r._mapping) for r in rows]

    # -- templates --------------------------------------------------------------------------------------
    async def set_template_status(self, name: str, locale: str, *, status: str, now: datetime,
                                  category: str | None = None, template_id: str | None = None,
                                  reason: str | None = None) -> None:
        values: dict[str, Any] = dict(status=status, updated_at=now, reason=reason)
        if template_id is not None:
            values["template_id"] = template_id
        async with self.db.begin() as conn:
            where = and_(T.templates.c.name == name, T.templates.c.locale == locale) if not template_id else \
                T.templates.c.template_id == template_id
            done = await conn.execute(update(T.templates).where(where).values(**values))
            if not done.rowcount and category is not None:
                await conn.execute(T.templates.insert().values(name=name, locale=locale, category=category,
                                                               **{"template_id": template_id, **values}))

    async def template_statuses(self) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            rows = await conn.execute(select(T.templates).order_by(T.templates.c.name, T.templates.c.locale))
            return [dict(r._mapping) for r in rows]


async def confirm_tracked(db: AsyncEngine, tracked: Sequence[tuple[str, str, str]]) -> int:
    """Statuses Meta sent for campaign sends (tracker ``c:{campaign}:{nonce}``): a send a crash left
    ``sending``/``unknown`` is now known to be ``sent`` (and gets its audit row, so the funnel sees it)."""
    changed = 0
    async with db.begin() as conn:
        for tracker, wamid, status in tracked:
            _, campaign, nonce = (tracker.split(":", 2) + ["", ""])[:3]
            user_key = (await conn.execute(select(T.sends.c.user_key).where(
                T.sends.c.campaign == campaign, T.sends.c.nonce == nonce))).scalar()
            if user_key is None:
                continue
            done = await conn.execute(update(T.sends).where(
                T.sends.c.campaign == campaign, T.sends.c.user_key == user_key,
                T.sends.c.state.in_(("queued", "sending", "unknown"))).values(state="sent", wamid=wamid))
            changed += done.rowcount
            ours = (await conn.execute(select(T.sends.c.user_key).where(
                T.sends.c.campaign == campaign, T.sends.c.user_key == user_key, T.sends.c.wamid == wamid))).first()
            if ours is None:
                continue
            known = (await conn.execute(select(messages.c.id).where(messages.c.wamid == wamid))).first()
            if known is None:
                at = datetime.now(timezone.utc)
                await conn.execute(messages.insert().values(
                    wamid=wamid, direction="out", user_key=user_key, kind="template", body=None,
                    status=status if status in ("sent", "delivered", "read", "failed") else "accepted",
                    correlation_id=f"c:{campaign}"[:32], created_at=at, status_at=at))
    return changed
