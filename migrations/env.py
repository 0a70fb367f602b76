"""Alembic's environment: run on the connection the caller opened (see ``migrations.run``); the URL of an
``alembic`` command line run (``-x url=...``) works too."""

from __future__ import annotations

import asyncio

from alembic import context

from migrations import _context_options, run


def _migrate(connection) -> None:
    context.configure(connection=connection, **_context_options(connection))
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _migrate(connection)
elif context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run `gridworks db upgrade`")
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database: alembic -x url=postgresql+asyncpg://... upgrade head")
    asyncio.run(run(url, _migrate))
