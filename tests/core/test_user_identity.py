"""Which account a sender writes from, as the identifiers Meta gives change over time (SQLite and PostgreSQL).

Users stored by phone before BSUIDs existed, users who later hide their number behind a username (their
messages carry only the BSUID), users who change their number (same BSUID, new phone) and numbers recycled
to someone else (new BSUID, old phone)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.stores.sql import SqlUserRepository, create_schema
from handlers.messages import Sender

NOW = datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc)
PHONE, NEW_PHONE = "919800000801", "919800000802"
BSUID, OTHER_BSUID = "IN.800000000000000001", "IN.800000000000000002"


async def repo_with_phone_user(db) -> tuple[SqlUserRepository, str]:
    await create_schema(db)
    repo = SqlUserRepository(db)
    user = await repo.get_or_create(Sender(phone=PHONE), now=NOW, language="hi")   # back office, pre-BSUID
    return repo, user.key


async def test_a_phone_user_who_hides_their_number_keeps_their_account(db):
    repo, key = await repo_with_phone_user(db)
    both = await repo.get_or_create(Sender(user_id=BSUID, phone=PHONE), now=NOW)
    assert both.key == key and both.bsuid == BSUID
    bsuid_only = await repo.get_or_create(Sender(user_id=BSUID), now=NOW)
    assert bsuid_only.key == key and not bsuid_only.is_new and bsuid_only.language == "hi"
    assert await repo.all_keys() == [key], "no second account"


async def test_a_changed_number_is_where_replies_go(db):
    repo, key = await repo_with_phone_user(db)
    await repo.get_or_create(Sender(user_id=BSUID, phone=PHONE), now=NOW)
    moved = await repo.get_or_create(Sender(user_id=BSUID, phone=NEW_PHONE), now=NOW)
    assert moved.key == key and moved.phone == NEW_PHONE
    assert (await repo.find(NEW_PHONE)).key == key


async def test_a_recycled_number_never_opens_the_previous_owners_account(db):
    repo, key = await repo_with_phone_user(db)
    await repo.get_or_create(Sender(user_id=BSUID, phone=PHONE), now=NOW)
    stranger = await repo.get_or_create(Sender(user_id=OTHER_BSUID, phone=PHONE), now=NOW + timedelta(days=400))
    assert stranger.key == OTHER_BSUID and stranger.is_new and stranger.phone == PHONE
    previous = await repo.get(key)
    assert previous.phone is None and previous.bsuid == BSUID, "the old account is no longer addressed by it"
    assert (await repo.find(PHONE)).key == OTHER_BSUID
    assert (await repo.find(BSUID)).key == key


async def test_a_phone_only_sender_finds_the_account_that_holds_the_number(db):
    await create_schema(db)
    repo = SqlUserRepository(db)
    first = await repo.get_or_create(Sender(user_id=BSUID, phone=PHONE), now=NOW)
    again = await repo.get_or_create(Sender(phone=PHONE), now=NOW)     # e.g. `gridworks users create PHONE`
    assert again.key == first.key == BSUID and not again.is_new
    assert await repo.all_keys() == [BSUID]


async def test_find_prefers_the_key_then_the_bsuid(db):
    await create_schema(db)
    repo = SqlUserRepository(db)
    await repo.get_or_create(Sender(user_id=BSUID, phone=PHONE), now=NOW)
    await repo.get_or_create(Sender(phone=BSUID.replace("IN.", "91")[:12]), now=NOW)
    assert (await repo.find(BSUID)).key == BSUID
    assert (await repo.find(PHONE)).key == BSUID
    assert await repo.find("919999999999") is None
