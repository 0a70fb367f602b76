"""PRO profiles are encrypted at rest (AES-GCM, key id per ciphertext, rotation); LITE stays plain.

The database is read directly, below the repository, to prove no PRO profile field is stored in clear."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select, update

from bot.stores.crypto import DataCipher, DataKeyError, development_keys, is_token, key_id
from bot.stores.sql import SqlUserRepository, create_schema, users
from config.settings import SecretsConfig
from engine.api import Tier
from handlers.messages import Sender

SECRET_PROFILE = {"pin_hash": "scrypt$needle-pin-hash", "consent": "needle-consent-2026",
                  "plan": {"id": "trial", "until": "2026-12-23T10:00:00+05:30"}}
NEEDLES = ("needle-pin-hash", "needle-consent-2026", "Meera Needle", "trial")


async def _raw_rows(db) -> dict[str, dict]:
    async with db.connect() as conn:
        return {r.key: dict(r._mapping) for r in await conn.execute(select(users))}


async def test_pro_profile_never_in_clear_and_lite_stays_plain(db, clock) -> None:
    await create_schema(db)
    repo = SqlUserRepository(db, cipher=DataCipher.from_hex([secrets.token_hex(32)]))
    now = clock.now()
    pro = await repo.get_or_create(Sender(phone="919800000101", name="Meera Needle"), now=now)
    lite = await repo.get_or_create(Sender(phone="919800000102", name="Lata Plain"), now=now)
    await repo.update(lite.key, profile={"consent": "lite-visible"})
    await repo.update(pro.key, profile=SECRET_PROFILE)
    await repo.set_tier(pro.key, Tier.PRO)

    rows = await _raw_rows(db)
    stored = " ".join(str(v) for v in rows[pro.key].values())
    for needle in NEEDLES:
        assert needle not in stored, f"{needle!r} stored in clear for a PRO user"
    assert is_token(rows[pro.key]["profile"]) and is_token(rows[pro.key]["name"])
    assert "lite-visible" in rows[lite.key]["profile"] and rows[lite.key]["name"] == "Lata Plain"

    back = await repo.get(pro.key)
    assert back is not None and back.profile == SECRET_PROFILE and back.name == "Meera Needle"
    assert back.tier is Tier.PRO

    # Downgrade: the same write decrypts, so LITE data is plain again.
    await repo.set_tier(pro.key, Tier.LITE)
    assert "needle-pin-hash" in (await _raw_rows(db))[pro.key]["profile"]


async def test_ciphertext_is_bound_to_its_row(db, clock) -> None:
    await create_schema(db)
    repo = SqlUserRepository(db, cipher=DataCipher.from_hex([secrets.token_hex(32)]))
    a = await repo.get_or_create(Sender(phone="919800000111"), now=clock.now())
    b = await repo.get_or_create(Sender(phone="919800000112"), now=clock.now())
    for user in (a, b):
        await repo.update(user.key, tier=Tier.PRO, profile={"who": user.key})
    stolen = (await _raw_rows(db))[a.key]["profile"]
    async with db.begin() as conn:
        await conn.execute(update(users).where(users.c.key == b.key).values(profile=stolen))
    with pytest.raises(InvalidTag):
        await repo.get(b.key)


async def test_rotation_reseals_under_the_new_key(db, clock) -> None:
    await create_schema(db)
    old_hex, new_hex = secrets.token_hex(32), secrets.token_hex(32)
    old_repo = SqlUserRepository(db, cipher=DataCipher.from_hex([old_hex]))
    user = await old_repo.get_or_create(Sender(phone="919800000121", name="Rotating"), now=clock.now())
    await old_repo.update(user.key, tier=Tier.PRO, profile={"pin_hash": "needle-rotate"})
    old_id = key_id(bytes.fromhex(old_hex))
    assert (await _raw_rows(db))[user.key]["profile"].startswith(f"gw1:{old_id}:")

    rotating = SqlUserRepository(db, cipher=DataCipher.from_hex([new_hex, old_hex]))
    assert (await rotating.get(user.key)).profile == {"pin_hash": "needle-rotate"}   # old key still reads
    assert await rotating.reseal() == 1
    assert await rotating.reseal() == 0
    new_id = key_id(bytes.fromhex(new_hex))
    assert (await _raw_rows(db))[user.key]["profile"].startswith(f"gw1:{new_id}:")

    only_new = SqlUserRepository(db, cipher=DataCipher.from_hex([new_hex]))
    assert (await only_new.get(user.key)).name == "Rotating"
    with pytest.raises(DataKeyError):
        await SqlUserRepository(db, cipher=DataCipher.from_hex([old_hex])).get(user.key)


def test_development_key_generated_once_and_private(tmp_path: Path) -> None:
    first = DataCipher.from_secrets(SecretsConfig(state_dir=tmp_path))
    second = DataCipher.from_secrets(SecretsConfig(state_dir=tmp_path))
    assert first.current_id == second.current_id
    assert (tmp_path / "data_keys").stat().st_mode & 0o077 == 0
    assert development_keys(tmp_path) == development_keys(tmp_path)
    configured = DataCipher.from_secrets(SecretsConfig(data_keys=("11" * 32,), state_dir=tmp_path))
    assert configured.current_id == key_id(bytes.fromhex("11" * 32))
    with pytest.raises(DataKeyError):
        DataCipher.from_hex(["abcd"])
