"""Migrations: an empty SQLite and an empty PostgreSQL schema migrated to head equal the models (Alembic's
compare_metadata), with the append-only triggers; a model change without its migration fails here. A
database the stores created before migrations is adopted. (How to add a migration: migrations/__init__.py.)"""

from __future__ import annotations

from sqlalchemy import text

import migrations
from engine.db import lock_ddl
from engine.tables import APPEND_ONLY


async def _run(db, fn, *args):
    async with db.begin() as conn:
        await lock_ddl(conn)
        return await conn.run_sync(fn, *args)


async def _triggers(db) -> set[str]:
    async with db.connect() as conn:
        if db.dialect.name == "sqlite":
            rows = await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        else:
            rows = await conn.execute(text(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                "AND NOT t.tgisinternal"))
        return {row[0] for row in rows}


async def test_an_empty_database_migrated_to_head_equals_the_models(db):
    said = await _run(db, migrations.upgrade_sync, "head")
    assert "was empty" in said, said
    assert await _run(db, migrations.current_sync) in migrations.heads()
    diffs = await _run(db, migrations.differences_sync)
    assert diffs == [], ("the models changed without a migration: run `gridworks db revision -m \"...\"` "
                         "against a database at head, read the file, commit it (migrations/__init__.py)")
    triggers = await _triggers(db)
    assert all(any(name.startswith(table) for name in triggers) for table in APPEND_ONLY), triggers
    assert "nothing to do" in await _run(db, migrations.upgrade_sync, "head")


async def test_a_model_change_without_a_migration_is_a_difference(db):
    from sqlalchemy import Column, MetaData, String, Table

    await _run(db, migrations.upgrade_sync, "head")
    extra = MetaData()
    Table("eng_venues", extra, Column("venue", String(8), primary_key=True))
    original = migrations.target_metadata
    migrations.target_metadata = lambda: [*original(), extra]
    try:
        diffs = await _run(db, migrations.differences_sync)
    finally:
        migrations.target_metadata = original
    assert [d[0] for d in diffs] == ["add_table"] and diffs[0][1].name == "eng_venues"


async def test_a_database_the_stores_created_is_adopted(runtime):
    said = await _run(runtime.db, migrations.upgrade_sync, "head")
    assert said.startswith("adopted"), said
    assert await _run(runtime.db, migrations.current_sync) in migrations.heads()
    assert await _run(runtime.db, migrations.differences_sync) == []


def test_gridworks_db_upgrade_current_check(tmp_path):
    from tests.ops.test_cli_errors import gridworks

    upgraded = gridworks(["db", "upgrade"], tmp_path)
    assert upgraded.returncode == 0 and "was empty" in upgraded.stdout, upgraded.stdout + upgraded.stderr
    current = gridworks(["db", "current"], tmp_path)
    assert current.returncode == 0 and current.stdout.strip().endswith("(head)"), current.stdout
    checked = gridworks(["db", "check"], tmp_path)
    assert checked.returncode == 0 and "in step" in checked.stdout, checked.stdout + checked.stderr
