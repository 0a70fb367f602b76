"""What every ``gridworks`` command shares: settings, the database probe, and one line for any failure.

A command raises; :func:`bot.cli.main` turns the exception into one line on stderr (exit 2) through
:func:`error_line`, or the full traceback with ``--debug``. So a command never prints its own traceback-free
variant of "the database is down", and nothing below the CLI needs to know how errors are shown.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

#: How long a command waits for the database or Redis before saying it cannot reach it.
PROBE_TIMEOUT_S = 10.0


class CliError(Exception):
    """A failure the operator can act on; its message is the whole line shown (no traceback)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str) -> int:
    """A negative answer an operator can act on (not found, refused): one line on stderr, exit 1."""
    import sys

    print(f"gridworks: {message}", file=sys.stderr)
    return 1


def settings() -> Any:
    """The frozen settings, read once here for every command (a ``SettingsError`` becomes one line)."""
    from config.settings import load_settings

    return load_settings()


def masked_url(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown by scheme only
        return url.split("://", 1)[0] + "://…"


def _reason(exc: BaseException) -> str:
    """A short, secret-free reason for a connection failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "unknown host"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, (TimeoutError, asyncio.TimeoutError)):
            return f"no answer within {PROBE_TIMEOUT_S:g} s"
        orig = getattr(current, "orig", None)
        if orig is not None and orig is not current:
            current = orig
            continue
        if current.__cause__ is None and current.__context__ is None:
            break
        current = current.__cause__ or current.__context__
    last = current or exc
    text = str(last).strip().splitlines()[0] if str(last).strip() else ""
    return f"{type(last).__name__}: {text}" if text else type(last).__name__


#: What a long-running role refuses to start without (else development keys would be generated into the
#: state directory: each host its own, PRO data sealed under a key that lives beside the database).
PRODUCTION_SECRETS = (("GRIDWORKS_SIGNING_KEY", "signing_key"), ("GRIDWORKS_BLINDING_SEED", "blinding_seed"),
                      ("GRIDWORKS_DATA_KEYS", "data_keys"))
INSECURE_DEV_HELP = ("development only: run with keys generated into the state directory (and, for serve, "
                     "without WHATSAPP_APP_SECRET)")


def require_production_secrets(settings: Any, *, insecure_dev: bool) -> None:
    """``serve``, ``worker`` and ``engine`` refuse development keys unless ``--insecure-dev``."""
    if insecure_dev:
        return
    missing = [name for name, attr in PRODUCTION_SECRETS if not getattr(settings.secrets, attr)]
    if missing:
        raise CliError(f"{', '.join(missing)} not set: this would run on development keys generated into "
                       f"{settings.secrets.state_dir} (each host its own). Set them (README \"Deploy\"), or pass "
                       "--insecure-dev for local development.")


async def open_database(settings: Any) -> Any:
    """The process's database engine, after one ``SELECT 1``: a database that is down, unknown or refusing
    us is reported here as one line, not as a lease or pool error later."""
    from sqlalchemy import text

    from engine.db import make_engine

    db = make_engine(settings.storage.database_url)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            async with db.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported as one line
        await db.dispose()
        raise CliError(f"cannot reach the database at {masked_url(settings.storage.database_url)}: "
                       f"{_reason(exc)}") from exc
    return db


async def probe_redis(settings: Any) -> None:
    """One PING to ``REDIS_URL`` (when set), reported as one line when Redis is down."""
    url = settings.storage.redis_url
    if not url:
        return
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await client.ping()
    except Exception as exc:  # noqa: BLE001 - reported as one line
        raise CliError(f"cannot reach Redis at {masked_url(url)}: {_reason(exc)}") from exc
    finally:
        await client.aclose()


async def probe_services(settings: Any) -> None:
    """Before a long-running role starts: the database and (when configured) Redis answer, or one line."""
    db = await open_database(settings)
    await db.dispose()
    await probe_redis(settings)


async def start_metrics(settings: Any, roles: Any = None, *, command: str, server: bool = True):
    """Queue gauges for this process's roles, and (``server``: worker and engine roles) the metrics-only HTTP
    port. Returns the server's closer, or None. A busy port is a warning, not a failed role (two roles on one
    host: give each its own ``GRIDWORKS_METRICS_PORT``)."""
    import structlog

    from bot import metrics

    metrics.watch_queues(roles, redis_url=settings.storage.redis_url, prefix=settings.cluster.prefix,
                         partitions=settings.cluster.partitions)
    if not server or settings.metrics_port is None:
        return None
    def readiness(app: Any) -> None:            # a worker: /readyz checks its database, Redis and model
        if roles is not None and getattr(roles, "db", None) is not None:
            from bot import readiness as ready

            ready.install(app, settings=settings, db=roles.db, roles=roles)

    try:
        closer = await metrics.serve("0.0.0.0", settings.metrics_port, setup=readiness)
    except OSError as exc:
        structlog.get_logger("gridworks.metrics").warning("metrics_port_unavailable", port=settings.metrics_port,
                                                          error=type(exc).__name__)
        return None
    print(f"gridworks {command}: metrics on port {metrics.bound_port} (/metrics)", flush=True)
    return closer


#: The collector's thresholds for a serving process (Python's default is 700, 10, 10). Measured with the
#: embedded default at 500 msgs/s (``gridworks bench e2e``): the default ran ~900 young collections, 80 middle
#: and 8 full ones in a run, 1.1 s of collection with the loop stopped, full ones up to 105 ms as caches grew
#: (ack p99 130 ms under measurement); with these, 8 young collections of ~20 ms and no full one after
#: start-up, 0.3 s in all, ack p99 20 ms. Reference cycles are still found, a little later.
GC_THRESHOLDS = (50_000, 20, 10)


def freeze_startup_heap() -> None:
    """Move everything built at start-up (the intent model, catalogs, compiled statements: ~120,000 objects)
    out of the garbage collector's sight, and collect less often (:data:`GC_THRESHOLDS`). A full collection
    walked them all -- 50 ms with the loop stopped, landing in the webhook's acknowledgement tail under load;
    they live as long as the process anyway."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def find_account(db: Any, who: str) -> str:
    """The order-engine account of ``who`` (a WhatsApp number, BSUID, user key or account id); a
    :class:`CliError` "no such user" when nobody has it (an operator typo must not read as an empty account)."""
    from sqlalchemy import select
    from sqlalchemy.exc import DBAPIError

    from bot.stores.sql import users
    from engine.tables import accounts

    who = who.strip().lstrip("+")
    try:
        async with db.connect() as conn:
            if (await conn.execute(select(accounts.c.account).where(accounts.c.account == who))).first():
                return who
            row = (await conn.execute(select(users.c.key).where(
                (users.c.key == who) | (users.c.phone == who) | (users.c.bsuid == who)))).first()
    except DBAPIError:
        row = None               # no tables yet: nobody exists
    if row is None:
        raise CliError(f"no such user: {who}", code=1)
    return row[0]


def error_line(exc: BaseException) -> tuple[str, int]:
    """One line and the exit code for ``exc``."""
    from config.settings import SettingsError

    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, SettingsError):
        return str(exc), 2
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename or exc}", 2
    if isinstance(exc, IsADirectoryError):
        return f"is a directory, not a file: {exc.filename or exc}", 2
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}", 2
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeout
    except ImportError:  # pragma: no cover
        RedisConnectionError = RedisTimeout = ()  # type: ignore[assignment,misc]
    if isinstance(exc, (RedisConnectionError, RedisTimeout)):
        return f"cannot reach Redis: {_reason(exc)}", 2
    try:
        from sqlalchemy.exc import DBAPIError
    except ImportError:  # pragma: no cover
        DBAPIError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, (DBAPIError, ConnectionError, socket.gaierror)):
        return f"database error: {_reason(exc)}", 2
    return f"unexpected {type(exc).__name__} (run again with --debug for the traceback)", 2


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; every option's default shown unless it says one already or has
    none worth showing (``None``, ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text.lower() or default in (None, False, argparse.SUPPRESS)
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"
        return text


def parsers(parser: argparse.ArgumentParser):
    """``parser`` and every subparser under it (for formatting and for the help-text test)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from parsers(child)
