"""Users and the audit log on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from bot.stores.sql import SqlAuditLog, SqlUserRepository, create_schema
from engine.api import Tier
from handlers.messages import InboundMessage, Sender

NOW = datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc)


async def test_users_are_keyed_by_bsuid_and_found_by_phone(db):
    await create_schema(db)
    repo = SqlUserRepository(db)
    user = await repo.get_or_create(Sender(user_id="IN.1234567890", phone="919800000001", name="Asha"), now=NOW)
    assert user.is_new and user.key == "IN.1234567890" and user.tier is Tier.LITE
    again = await repo.get_or_create(Sender(user_id="IN.1234567890", phone="919800000001"), now=NOW)
    assert not again.is_new and again.name == "Asha"
    assert (await repo.find("919800000001")).key == "IN.1234567890"
    assert (await repo.set_tier(user.key, Tier.PRO)).tier is Tier.PRO


async def test_a_phone_user_keeps_their_account_when_a_bsuid_appears(db):
    await create_schema(db)
    repo = SqlUserRepository(db)
    first = await repo.get_or_create(Sender(phone="919800000002"), now=NOW)
    later = await repo.get_or_create(Sender(user_id="IN.999", phone="919800000002"), now=NOW)
    assert later.key == first.key == "919800000002" and later.bsuid == "IN.999"


async def test_concurrent_first_contact_creates_one_user(db):
    await create_schema(db)
    repo = SqlUserRepository(db)
    users = await asyncio.gather(*(repo.get_or_create(Sender(phone="919800000003"), now=NOW) for _ in range(8)))
    assert {u.key for u in users} == {"919800000003"}
    assert len([k for k in await repo.all_keys() if k == "919800000003"]) == 1


async def test_inbound_log_is_the_durable_dedupe_record(db):
    await create_schema(db)
    audit = SqlAuditLog(db)
    msg = InboundMessage(id="wamid.A", sender=Sender(phone="919800000004"), timestamp=NOW, text="buy 1 TCS")
    assert await audit.record_inbound(msg, user_key="919800000004", correlation_id="c1") is True
    assert await audit.record_inbound(msg, user_key="919800000004", correlation_id="c2") is False
    assert await audit.inbound_count() == 1


async def test_outbound_status_never_moves_backwards(db):
    await create_schema(db)
    audit = SqlAuditLog(db)
    await audit.record_outbound(user_key="u", reply_type="text", body="hi", wamid="wamid.out", correlation_id="c")
    assert await audit.record_status(wamid="wamid.out", status="read", at=NOW, error_code=None, error_title=None)
    assert not await audit.record_status(wamid="wamid.out", status="delivered", at=NOW, error_code=None,
                                         error_title=None)
    assert not await audit.record_status(wamid="wamid.unknown", status="read", at=NOW, error_code=None,
                                         error_title=None)
    assert (await audit.outbound("u"))[0]["status"] == "read"


async def test_profile_changes_merge_into_the_stored_profile_not_a_stale_copy(db):
    """A tick expiring a plan and a turn counting a wrong PIN both started from the same loaded user:
    each writes only its own flags, and neither loses the other's."""
    await create_schema(db)
    repo = SqlUserRepository(db)
    stale = await repo.get_or_create(Sender(phone="919800000004"), now=NOW)
    await repo.update(stale.key, profile_changes={"plan": {"id": "trial"}, "handoff": {"since": "x"}})
    await asyncio.gather(repo.update(stale.key, profile_changes={"pin_failures": 1}),
                         repo.update(stale.key, tier=Tier.LITE, profile_changes={"plan": None}))
    fresh = await repo.get(stale.key)
    assert fresh.profile == {"handoff": {"since": "x"}, "pin_failures": 1}
    pro = await repo.update(stale.key, tier=Tier.PRO, profile_changes={"handoff": None})
    assert pro.profile == {"pin_failures": 1}       # merged under the PRO seal too


async def test_a_pro_users_message_texts_follow_the_tier_and_the_current_key(db):
    """Sealed while PRO (inbound and outbound), clear again after a downgrade, re-sealed under a rotated key;
    the log still reads back the texts."""
    import secrets

    from sqlalchemy import select

    from bot.stores.crypto import DataCipher, is_token, token_key_id
    from bot.stores.sql import messages

    await create_schema(db)
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    cipher = DataCipher.from_hex([old])
    repo, audit = SqlUserRepository(db, cipher=cipher), SqlAuditLog(db, cipher=cipher)
    user = await repo.get_or_create(Sender(phone="919800000077"), now=NOW)

    def said(i: int, text: str) -> InboundMessage:
        return InboundMessage(id=f"wamid.seal{i}", sender=Sender(phone=user.key), timestamp=NOW, text=text)

    async def bodies() -> list[str]:
        async with db.connect() as conn:
            return [r.body for r in await conn.execute(
                select(messages.c.body).where(messages.c.user_key == user.key).order_by(messages.c.id))]

    assert await audit.record_inbound(said(1, "buy 17 TCS"), user_key=user.key, correlation_id="c1")
    assert await bodies() == ["buy 17 TCS"], "a LITE user's texts are stored as they are"
    await repo.set_tier(user.key, Tier.PRO)
    assert all(is_token(b) for b in await bodies()), "upgrading seals the history in the same transaction"
    assert await audit.record_inbound(said(2, "sell 3 INFY"), user_key=user.key, correlation_id="c2",
                                      private=True)
    await audit.record_outbound(user_key=user.key, reply_type="text", body="Bought 17 TCS", wamid="wamid.o1",
                                correlation_id="c1", private=True)
    stored = await bodies()
    assert len(stored) == 3 and all(is_token(b) and "TCS" not in b for b in stored)
    assert [r["body"] for r in await audit.outbound(user.key)] == ["Bought 17 TCS"]

    rotated = DataCipher.from_hex([new, old])
    assert await SqlUserRepository(db, cipher=rotated).reseal() >= 3
    assert {token_key_id(b) for b in await bodies()} == {rotated.current_id}
    assert [r["body"] for r in await SqlAuditLog(db, cipher=DataCipher.from_hex([new])).outbound(user.key)] == \
        ["Bought 17 TCS"], "after the reseal the old key can go"

    await SqlUserRepository(db, cipher=rotated).set_tier(user.key, Tier.LITE)
    assert await bodies() == ["buy 17 TCS", "sell 3 INFY", "Bought 17 TCS"], "a downgrade opens them again"


async def test_one_group_commit_says_per_row_which_were_new_and_stores_every_column(db):
    """The message writer's batch (SQLite: per-row driver inserts; PostgreSQL: one array INSERT): a message id
    stored before, or twice in the batch, is not new the second time; a row without an id always is; every
    column lands as given."""
    from sqlalchemy import select

    from bot.stores.sql import message_row, message_writer, messages

    await create_schema(db)
    writer = message_writer(db)
    assert await writer.submit([message_row(wamid="w.old", direction="in", user_key="u", kind="text", body="a",
                                            created_at=NOW)]) == [True]
    jobs = [[message_row(wamid="w.new", direction="in", user_key="u", kind="text", body="b", created_at=NOW),
             message_row(wamid="w.old", direction="in", user_key="u", kind="text", body="again", created_at=NOW)],
            [message_row(wamid="w.new", direction="in", user_key="v", kind="text", body="dup", created_at=NOW)],
            [message_row(wamid=None, direction="out", user_key="u", kind="text", body="unsent", status="failed",
                         error_code=131047, error_title="Re-engagement message", correlation_id="c9",
                         created_at=NOW, status_at=NOW)]]
    assert await asyncio.gather(*(writer.submit(job) for job in jobs)) == [[True, False], [False], [True]]
    async with db.connect() as conn:
        rows = {r["body"]: dict(r) for r in (await conn.execute(select(messages))).mappings()}
    assert set(rows) == {"a", "b", "unsent"}
    failed = rows["unsent"]
    assert (failed["wamid"], failed["status"], failed["error_code"], failed["error_title"], failed["correlation_id"]) \
        == (None, "failed", 131047, "Re-engagement message", "c9")
    stored = failed["status_at"] if failed["status_at"].tzinfo else failed["status_at"].replace(tzinfo=timezone.utc)
    assert stored == NOW
