"""The SQL alert store on SQLite and PostgreSQL: ownership, one-shot claiming, idempotent schema."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.stores.alerts import SqlAlertStore
from handlers.alerts import Alert


async def test_add_list_delete_only_own(db, clock) -> None:
    store = SqlAlertStore(db)
    await store.create_schema()
    await store.create_schema()  # idempotent
    now = clock.now()
    a = await store.add(user_key="u1", symbol="TCS", direction="above", target_paise=400000,
                        reference_paise=312000, now=now)
    await store.add(user_key="u2", symbol="INFY", direction="below", target_paise=140000,
                    reference_paise=149520, now=now)
    assert [x.symbol for x in await store.for_user("u1")] == ["TCS"]
    assert await store.delete(user_key="u2", alert_id=a.id) is None      # not theirs
    gone = await store.delete(user_key="u1", alert_id=a.id)
    assert gone is not None and gone.target_paise == 400000
    assert await store.for_user("u1") == []
    assert await store.delete(user_key="u1", alert_id=a.id) is None      # already gone
    assert [x.user_key for x in await store.active()] == ["u2"]


async def test_mark_triggered_is_one_shot_under_concurrency(db, clock) -> None:
    store = SqlAlertStore(db)
    a = await store.add(user_key="u1", symbol="TCS", direction="above", target_paise=400000,
                        reference_paise=312000, now=clock.now())
    later = clock.now() + timedelta(minutes=5)
    claims = await asyncio.gather(*(store.mark_triggered(a.id, now=later, price_paise=400500) for _ in range(4)))
    assert sorted(claims) == [False, False, False, True]
    assert await store.active() == []


def test_alert_direction() -> None:
    up = Alert(id=1, user_key="u", symbol="TCS", direction="above", target_paise=400000, reference_paise=None,
               created_at=None)  # type: ignore[arg-type]
    down = Alert(id=2, user_key="u", symbol="TCS", direction="below", target_paise=300000, reference_paise=None,
                 created_at=None)  # type: ignore[arg-type]
    assert up.hit(400000) and not up.hit(399995)
    assert down.hit(299990) and not down.hit(300005)
