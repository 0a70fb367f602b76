"""SQL stores (SQLite or PostgreSQL through SQLAlchemy async): users and the message audit log.

The inbound log is append-only and keyed by the WhatsApp message id (unique), which makes it the durable
dedupe record: SEBI expects the instruction behind every order to be retrievable, and Meta redelivers.

A PRO user's name and profile (PIN hash, consent, plan, flags) are stored AES-GCM encrypted
(:mod:`bot.stores.crypto`); a LITE user's stay plain. Every write re-seals both fields for the tier the
row ends up with, so upgrading encrypts and downgrading decrypts in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from sqlalchemy import (BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, bindparam, insert,
                        or_, select, update)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import structlog

from bot.stores.crypto import DataCipher, is_token
from bot.batching import Coalescer
from config.settings import SecretsConfig
from engine.api import Tier
from engine.db import (PgRowInsert, Prepared, Reads, SqliteRowInsert, autocommit_reads, create_tables,
                       on_asyncpg, sqlite_twin)
from handlers.messages import InboundMessage, Sender
from handlers.users import User

log = structlog.get_logger("gridworks.stores")

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("key", String(64), primary_key=True),
    Column("phone", String(32), index=True),
    Column("bsuid", String(64), index=True),
    Column("name", Text),                       # ciphertext for PRO users
    Column("tier", String(8), nullable=False, default=Tier.LITE.value),
    Column("language", String(8)),
    Column("profile", Text, nullable=False, default="{}"),   # JSON; ciphertext for PRO users
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

messages = Table(
    "messages", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("wamid", String(200), unique=True),
    Column("direction", String(3), nullable=False),          # "in" | "out"
    Column("user_key", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("body", Text),
    Column("payload", String(256)),
    Column("status", String(16)),                             # outbound: accepted|sent|delivered|read|failed
    Column("error_code", Integer),
    Column("error_title", String(200)),
    Column("correlation_id", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status_at", DateTime(timezone=True)),
)

#: Outbound statuses only move forward: a late "delivered" never overwrites "read".
STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}
#: Every column of a ``messages`` row we write (a batch's rows must share their keys).
MESSAGE_COLUMNS = ("wamid", "direction", "user_key", "kind", "body", "payload", "status", "error_code",
                   "error_title", "correlation_id", "created_at", "status_at")


def seal_body(cipher: DataCipher, user_key: str, body: str | None) -> str | None:
    """A PRO user's message text as stored: sealed, bound to its column and user."""
    return cipher.encrypt_text(body, aad=f"messages.body:{user_key}") if body is not None else None


def open_body(cipher: DataCipher, user_key: str, body: str | None) -> str | None:
    return cipher.decrypt_text(body, aad=f"messages.body:{user_key}") if is_token(body) else body


def message_row(**values: Any) -> dict[str, Any]:
    """A ``messages`` row with every written column present (None where not given)."""
    return {c: values.get(c) for c in MESSAGE_COLUMNS}


def _rows(jobs: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for job in jobs for row in job]


def _insert_messages(conn: Any):
    """One INSERT for a batch; a row whose message id is stored already is skipped (Meta's redelivery, a
    recovered send) and the stored ids come back."""
    insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return insert_(messages).on_conflict_do_nothing(index_elements=["wamid"]).returning(messages.c.wamid)


def _flags(jobs: Sequence[Sequence[dict[str, Any]]], stored: set[str]) -> list[list[bool]]:
    """Per caller, whether each of its rows was new (the same id twice in one batch: only the first)."""
    results: list[list[bool]] = []
    for job in jobs:
        flags = []
        for row in job:
            wamid = row["wamid"]
            flags.append(wamid is None or wamid in stored)
            stored.discard(wamid)
        results.append(flags)
    return results


#: The SQLite writer's statement: compiled once, run per row on the driver (new-or-not from each row's count).
_SQLITE_MESSAGES = SqliteRowInsert(messages, MESSAGE_COLUMNS, conflict="wamid")
#: PostgreSQL's: one array INSERT per batch on the asyncpg driver (the ids it returns were new).
_PG_MESSAGES = PgRowInsert(messages, MESSAGE_COLUMNS, conflict="wamid")


def _append_messages_sync(twin: Any, jobs: Sequence[Sequence[dict[str, Any]]]) -> list[list[bool]]:
    with twin.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        try:
            return [_SQLITE_MESSAGES.run(cursor, job) for job in jobs]
        finally:
            cursor.close()


_WRITERS: "weakref.WeakKeyDictionary[Any, Coalescer]" = weakref.WeakKeyDictionary()


def message_writer(db: AsyncEngine) -> Coalescer:
    """The one group-commit writer of ``messages`` rows for ``db``: inbound audit rows and outbound send
    records of all concurrent turns share its transactions; ``submit(rows)`` returns once they committed."""
    writer = _WRITERS.get(db.sync_engine)
    if writer is None:
        twin, pg = sqlite_twin(db), on_asyncpg(db)

        async def commit(jobs: Sequence[Sequence[dict[str, Any]]]) -> list[list[bool]]:
            if twin is not None:         # SQLite: the whole transaction in one thread hop
                return await asyncio.to_thread(_append_messages_sync, twin, jobs)
            if pg:
                return _flags(jobs, await _PG_MESSAGES.run(db, _rows(jobs)))
            async with db.begin() as conn:
                return _flags(jobs, {r.wamid for r in await conn.execute(_insert_messages(conn), _rows(jobs))})

        writer = _WRITERS[db.sync_engine] = Coalescer(commit)
    return writer


async def create_schema(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await create_tables(conn, metadata)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _ts(value: datetime | None) -> float:
    """Comparable seconds of a stored time (SQLite returns naive datetimes, PostgreSQL aware ones)."""
    if value is None:
        return 0.0
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def _dump_profile(profile: Any) -> str:
    if isinstance(profile, str):
        return profile
    return json.dumps(dict(profile), ensure_ascii=False, sort_keys=True)


#: Built once: the hot path's one user read (statement building was a tenth of a turn's CPU).
_CANDIDATES = Prepared(select(users).where(or_(
    users.c.key == bindparam("key"), users.c.bsuid == bindparam("bsuid"), users.c.phone == bindparam("phone"))))
_BY_KEY = Prepared(select(users).where(users.c.key == bindparam("key")))
_BY_ANY = Prepared(select(users).where(or_(
    users.c.key == bindparam("id"), users.c.phone == bindparam("id"), users.c.bsuid == bindparam("id"))))


class _Row:
    """A users row from values we just wrote (attribute access, like a fetched row)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)


def _by_identity(rows: Sequence[Any], sender: Sender) -> Any:
    """Of ``rows``, the account the sender's BSUID names (newest), else the one its phone number names —
    only an account with no BSUID, or any when the sender has none; the one keyed by the number first."""
    if sender.user_id:
        same = [r for r in rows if r.bsuid == sender.user_id]
        if same:
            return max(same, key=lambda r: _ts(r.created_at))
    by_phone = [r for r in rows if sender.phone and r.phone == sender.phone
                and (r.bsuid is None or sender.user_id is None)]
    if not by_phone:
        return None
    return min(by_phone, key=lambda r: (r.key != sender.phone, -_ts(r.created_at)))


class SqlUserRepository:
    """Users keyed by BSUID when known, else phone; both kept so either finds the user.

    ``cipher`` seals PRO fields; the composition root should pass
    ``DataCipher.from_secrets(settings.secrets)``. Without one, the development key in ``./.gridworks``
    is used (and a warning logged), so rows stay readable but production keys are not applied."""

    def __init__(self, db: AsyncEngine, *, cipher: DataCipher | None = None) -> None:
        self._db = db
        self._reads = Reads(db)
        self._scans = autocommit_reads(db)
        self._cipher = cipher

    @property
    def cipher(self) -> DataCipher:
        if self._cipher is None:
            log.info("data_keys_default", detail="no cipher given: using the development key in ./.gridworks")
            self._cipher = DataCipher.from_secrets(SecretsConfig())
        return self._cipher

    def _open(self, key: str, value: str | None, field: str) -> str | None:
        if value is not None and is_token(value):
            return self.cipher.decrypt_text(value, aad=f"users.{field}:{key}")
        return value

    def _seal(self, key: str, tier: str, value: str | None, field: str) -> str | None:
        if value is None or tier != Tier.PRO.value:
            return value
        return self.cipher.encrypt_text(value, aad=f"users.{field}:{key}")

    def _row_to_user(self, row: Any, *, is_new: bool = False) -> User:
        return User(key=row.key, phone=row.phone, bsuid=row.bsuid, name=self._open(row.key, row.name, "name"),
                    tier=Tier(row.tier), language=row.language, created_at=row.created_at, is_new=is_new,
                    profile=json.loads(self._open(row.key, row.profile, "profile") or "{}"))

    async def get(self, key: str) -> User | None:
        rows = await self._reads.mappings(_BY_KEY, {"key": key})
        return self._row_to_user(_Row(rows[0])) if rows else None

    async def find(self, identifier: str) -> User | None:
        """The user whose BSUID, phone number or key is ``identifier``, in that order of preference: a
        number is found with the account that holds it now, even when an older account is keyed by it."""
        rows = [_Row(r) for r in await self._reads.mappings(_BY_ANY, {"id": identifier})]
        if not rows:
            return None
        best = min(rows, key=lambda r: (r.bsuid != identifier, r.phone != identifier, -_ts(r.created_at)))
        return self._row_to_user(best)

    async def get_or_create(self, sender: Sender, *, now: datetime, language: str | None = None) -> User:
        """The account this sender writes from, created on first contact.

        Meta identifies a sender by BSUID, phone number or both, and which of them a message carries
        changes over time: users stored by phone before BSUIDs existed, users who later hide their number
        behind a username (BSUID only), users who change their number (same BSUID, new phone). So the
        account is found by key, then by BSUID, then by phone — a phone only when the account found by it
        has no BSUID or the same one (a number recycled to someone else never opens the previous owner's
        account). The identifiers are then brought up to date: the phone the message came from is where
        replies go. Every candidate comes from one statement: a returning user costs one read."""
        rows = await self._candidates(sender)
        row = next((r for r in rows if r.key == sender.key), None)
        if row is not None and not sender.user_id and row.phone != sender.phone and row.bsuid is not None:
            row = None          # keyed by a number that has since moved on: not this sender's account
        if row is None:
            row = _by_identity(rows, sender)
        if row is None:
            return await self._create(sender, now=now, language=language)
        existing = self._row_to_user(row)
        changes: dict[str, Any] = {}
        if sender.name and sender.name != existing.name:
            changes["name"] = sender.name
        if sender.phone and sender.phone != existing.phone and (sender.user_id or not existing.phone):
            # With a BSUID the pairing is Meta's word: the number is this user's now (set or changed).
            changes["phone"] = sender.phone
            if existing.phone:
                log.info("user_phone_changed")
        if sender.user_id and not existing.bsuid:
            changes["bsuid"] = sender.user_id
        if "phone" in changes and sender.user_id:
            await self._release_phone(sender.phone, keep=existing.key, bsuid=sender.user_id)
        return await self.update(existing.key, **changes) if changes else existing

    async def _candidates(self, sender: Sender) -> list[Any]:
        """Rows keyed by the sender's key, or holding its BSUID or phone number (a None matches nothing)."""
        params = {"key": sender.key, "bsuid": sender.user_id or None, "phone": sender.phone or None}
        return [_Row(r) for r in await self._reads.mappings(_CANDIDATES, params)]

    async def _create(self, sender: Sender, *, now: datetime, language: str | None) -> User:
        if sender.user_id and sender.phone:
            await self._release_phone(sender.phone, keep=sender.key, bsuid=sender.user_id)
        values = dict(key=sender.key, phone=sender.phone, bsuid=sender.user_id, name=sender.name,
                      tier=Tier.LITE.value, language=language, profile="{}", created_at=now, updated_at=now)
        try:
            async with self._db.begin() as conn:
                await conn.execute(insert(users).values(**values))
        except IntegrityError:
            found = await self.get(sender.key)
            assert found is not None
            return found
        return self._row_to_user(_Row(values), is_new=True)

    async def _release_phone(self, phone: str | None, *, keep: str, bsuid: str) -> None:
        """``phone`` now belongs to the user with ``bsuid``: other accounts that hold it under a different
        BSUID (a recycled number) stop being addressed by it, so their pushes never reach its new owner."""
        if not phone:
            return
        async with self._db.begin() as conn:
            moved = await conn.execute(update(users).where(
                users.c.phone == phone, users.c.key != keep, users.c.bsuid.is_not(None),
                users.c.bsuid != bsuid).values(phone=None, updated_at=_now()))
        if moved.rowcount:
            log.info("user_phone_released", accounts=moved.rowcount)

    async def update(self, key: str, *, profile_changes: Mapping[str, Any] | None = None, **fields: Any) -> User:
        """Change fields of one user; name and profile are re-sealed for the tier the row ends up with.

        ``profile_changes`` are merged into the stored profile inside this transaction (the row is locked
        on PostgreSQL), a None value removing the flag: features that keep flags there (PIN failures, plan,
        handoff, opt-out) never overwrite each other with a profile read earlier in a turn or a tick."""
        if "tier" in fields and isinstance(fields["tier"], Tier):
            fields["tier"] = fields["tier"].value
        if "profile" in fields:
            fields["profile"] = _dump_profile(fields["profile"])
        async with self._db.begin() as conn:
            row = (await conn.execute(select(users).where(users.c.key == key).with_for_update())).first()
            if row is None:
                raise LookupError(f"no user {key!r}")
            tier = fields.get("tier", row.tier)
            name = fields["name"] if "name" in fields else self._open(key, row.name, "name")
            profile = fields["profile"] if "profile" in fields else self._open(key, row.profile, "profile")
            if profile_changes:
                merged = json.loads(profile or "{}")
                for flag, value in profile_changes.items():
                    if value is None:
                        merged.pop(flag, None)
                    else:
                        merged[flag] = value
                profile = _dump_profile(merged)
            fields["name"] = self._seal(key, tier, name, "name")
            fields["profile"] = self._seal(key, tier, profile or "{}", "profile")
            fields["updated_at"] = _now()
            await conn.execute(update(users).where(users.c.key == key).values(**fields))
            if tier != row.tier:            # the message history follows the account's tier, in this transaction
                await self._reseal_messages(conn, key, private=tier == Tier.PRO.value)
        return self._row_to_user(_Row({**row._mapping, **fields}))

    async def set_tier(self, key: str, tier: Tier) -> User:
        return await self.update(key, tier=tier)

    async def all_keys(self, *, tier: Tier | None = None) -> Sequence[str]:
        query = select(users.c.key).order_by(users.c.key)
        if tier is not None:
            query = query.where(users.c.tier == tier.value)
        async with self._scans.connect() as conn:
            return [r.key for r in await conn.execute(query)]

    async def reseal(self) -> int:
        """Bring every row to the current key and to its tier's form: PRO rows sealed under the current
        key (rotation: configure the new key first, keep the old one until this has run), LITE rows plain.
        Returns how many rows were rewritten."""
        changed = 0
        for key in await self.all_keys():
            async with self._db.begin() as conn:
                row = (await conn.execute(select(users).where(users.c.key == key))).first()
                if row is None:
                    continue
                stale = any(
                    (is_token(v) and (row.tier != Tier.PRO.value or not self.cipher.is_current(v)))
                    or (v is not None and not is_token(v) and row.tier == Tier.PRO.value)
                    for v in (row.name, row.profile))
                if not stale:
                    continue
                values = {f: self._seal(key, row.tier, self._open(key, getattr(row, f), f), f)
                          for f in ("name", "profile")}
                await conn.execute(update(users).where(users.c.key == key).values(**values))
                changed += 1
        for key, tier in await self._tiers():
            async with self._db.begin() as conn:
                changed += await self._reseal_messages(conn, key, private=tier == Tier.PRO.value)
        return changed

    async def _tiers(self) -> list[tuple[str, str]]:
        async with self._scans.connect() as conn:
            return [(r.key, r.tier) for r in await conn.execute(select(users.c.key, users.c.tier))]

    async def _reseal_messages(self, conn: AsyncConnection, key: str, *, private: bool) -> int:
        """Bring the user's message texts to their tier's form: sealed under the current key for PRO, clear
        for LITE. Returns how many rows were rewritten."""
        rows = (await conn.execute(select(messages.c.id, messages.c.body).where(
            messages.c.user_key == key, messages.c.body.is_not(None)))).all()
        changes = []
        for row in rows:
            sealed = is_token(row.body)
            if private and sealed and self.cipher.is_current(row.body):
                continue
            if not private and not sealed:
                continue
            clear = open_body(self.cipher, key, row.body)
            changes.append({"row_id": row.id, "new_body": seal_body(self.cipher, key, clear) if private else clear})
        if changes:
            await conn.execute(update(messages).where(messages.c.id == bindparam("row_id")).values(
                body=bindparam("new_body")), changes)
        return len(changes)


class SqlAuditLog:
    """Append-only log of inbound and outbound messages, with outbound delivery statuses. A PRO user's
    message texts are stored sealed (``cipher``), like their name and profile."""

    def __init__(self, db: AsyncEngine, *, cipher: DataCipher | None = None) -> None:
        self._db = db
        self._cipher = cipher

    @property
    def cipher(self) -> DataCipher:
        if self._cipher is None:
            self._cipher = DataCipher.from_secrets(SecretsConfig())
        return self._cipher

    async def record_inbound(self, message: InboundMessage, *, user_key: str, correlation_id: str,
                             private: bool = False) -> bool:
        """Store the inbound row (committed when this returns); False when its message id is stored already.
        ``private``: a PRO user's message, its text stored sealed."""
        body = message.text
        if body is None and message.attachment is not None:
            body = message.attachment.filename
        if private:
            body = seal_body(self.cipher, user_key, body)
        [fresh] = await message_writer(self._db).submit([message_row(
            wamid=message.id, direction="in", user_key=user_key, kind=message.kind.value, body=body,
            payload=message.payload, correlation_id=correlation_id, created_at=message.timestamp)])
        return fresh

    async def record_outbound(self, *, user_key: str, reply_type: str, body: str, wamid: str | None,
                              correlation_id: str | None, private: bool = False) -> None:
        if private:
            body = seal_body(self.cipher, user_key, body)
        async with self._db.begin() as conn:
            await conn.execute(insert(messages).values(
                wamid=wamid, direction="out", user_key=user_key, kind=reply_type, body=body,
                status="accepted" if wamid else "unsent", correlation_id=correlation_id, created_at=_now()))

    async def record_status(self, *, wamid: str, status: str, at: datetime, error_code: int | None,
                            error_title: str | None) -> bool:
        """Record a delivery status for one of our messages; never moves a status backwards."""
        async with self._db.begin() as conn:
            row = (await conn.execute(select(messages.c.id, messages.c.status).where(
                messages.c.wamid == wamid, messages.c.direction == "out"))).first()
            if row is None:
                return False
            if STATUS_RANK.get(status, -1) <= STATUS_RANK.get(row.status or "", -1):
                return False
            await conn.execute(update(messages).where(messages.c.id == row.id).values(
                status=status, status_at=at, error_code=error_code, error_title=error_title))
        return True

    async def outbound(self, user_key: str | None = None) -> list[dict[str, Any]]:
        q = select(messages).where(messages.c.direction == "out").order_by(messages.c.id)
        if user_key:
            q = q.where(messages.c.user_key == user_key)
        async with self._db.connect() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(q)]
        for row in rows:
            row["body"] = open_body(self.cipher, row["user_key"], row["body"])
        return rows

    async def inbound_count(self) -> int:
        async with self._db.connect() as conn:
            rows = await conn.execute(select(messages.c.id).where(messages.c.direction == "in"))
            return len(rows.all())


async def record_statuses(db: AsyncEngine, updates: Sequence[Mapping[str, Any]]) -> int:
    """Many delivery statuses in one transaction (the side writer's batch); statuses only move forward.
    Returns how many rows changed."""
    if not updates:
        return 0
    latest: dict[str, Mapping[str, Any]] = {}
    for u in updates:       # per message, keep the furthest status of the batch
        seen = latest.get(u["wamid"])
        if seen is None or STATUS_RANK.get(u["status"], -1) > STATUS_RANK.get(seen["status"], -1):
            latest[u["wamid"]] = u
    changed = 0
    async with db.begin() as conn:
        rows = (await conn.execute(select(messages.c.id, messages.c.wamid, messages.c.status).where(
            messages.c.wamid.in_(list(latest)), messages.c.direction == "out"))).all()
        for row in rows:
            u = latest[row.wamid]
            if STATUS_RANK.get(u["status"], -1) <= STATUS_RANK.get(row.status or "", -1):
                continue
            await conn.execute(update(messages).where(messages.c.id == row.id).values(
                status=u["status"], status_at=u["at"], error_code=u.get("error_code"),
                error_title=u.get("error_title")))
            changed += 1
    return changed
