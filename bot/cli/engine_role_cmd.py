"""``gridworks engine``: run the order engine as the cluster's single authority.

Start it on two or more machines: one takes the PostgreSQL lease, serves engine commands from Redis
(``{prefix}eng:cmd``) and runs the market clock; the others wait as standbys and take over within about a
second of the active one dying. Needs ``REDIS_URL`` and a PostgreSQL ``DATABASE_URL`` (SQLite cannot be shared
between machines). ``gridworks serve`` stands for the same election through :func:`engine_candidate`.

Exit codes: 0 after SIGTERM/SIGINT, 2 for bad configuration, 3 when the lease was lost (another process may
be the engine now: this one must not act any more), 1 when serving failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.cli.common import INSECURE_DEV_HELP, require_production_secrets

EXIT_LEASE_LOST = 3


def register(sub) -> None:
    p = sub.add_parser("engine", help="run the order engine for a cluster (one active, the others standby)")
    p.add_argument("--prefix", default=None,
                   help="Redis key prefix shared with the workers (default: GRIDWORKS_REDIS_PREFIX or gw:)")
    p.add_argument("--insecure-dev", action="store_true", help=INSECURE_DEV_HELP)
    p.set_defaults(func=_run)


def _say(line: str) -> None:
    print(f"gridworks engine: {line}", flush=True)


def _run(args: argparse.Namespace) -> int:
    from bot.cli.common import settings as load

    settings = load()
    if not settings.storage.redis_url:
        print("gridworks engine: REDIS_URL is required: workers send engine commands through Redis streams",
              file=sys.stderr)
        return 2
    if not settings.storage.database_url.startswith("postgresql"):
        print("gridworks engine: DATABASE_URL must be a PostgreSQL URL for the cluster (the engine lease and "
              "the shared state live there; SQLite serves a single process: use `gridworks serve`)",
              file=sys.stderr)
        return 2
    require_production_secrets(settings, insecure_dev=args.insecure_dev)
    from bot.logging import configure_logging, deployment_hash_key

    configure_logging(settings.log_level, hash_key=deployment_hash_key(settings.secrets))
    return asyncio.run(_until_signal(settings, args.prefix))


async def _until_signal(settings: Any, prefix: str | None) -> int:
    from bot.cli.common import probe_services, start_metrics
    from bot.tracing import configure_tracing

    configure_tracing("engine")             # only when OTEL_* asks for it (bot/tracing.py)
    await probe_services(settings)          # a database or Redis that is down: one line, exit 2
    stop_metrics = await start_metrics(settings, command="engine")
    try:
        return await _signalled(settings, prefix)
    finally:
        if stop_metrics is not None:
            await stop_metrics()


async def _signalled(settings: Any, prefix: str | None) -> int:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await engine_candidate(settings, stop=stop, prefix=prefix, rejoin=False)


async def engine_candidate(settings: Any, *, stop: asyncio.Event, prefix: str | None = None,
                           rejoin: bool = True, local: Any = None) -> int:
    """Stand for the engine role until ``stop`` is set: standby while another process holds the lease, the
    engine once it is ours. A lost lease ends the term at once (state is discarded); with ``rejoin`` the
    process stands again (a new epoch, state rebuilt from the database), else it returns 3. ``local`` (a
    :class:`~bot.cluster.engine_rpc.LocalEngine`) holds the engine while it serves, for this process's
    worker."""
    prefix = prefix or settings.cluster.prefix
    while True:
        code = await _term(settings, stop, prefix, local)
        if code != EXIT_LEASE_LOST or not rejoin or stop.is_set():
            return code
        try:                                   # let the new holder settle before standing again
            await asyncio.wait_for(stop.wait(), settings.cluster.lease_s)
            return 0
        except TimeoutError:
            pass


async def _term(settings: Any, stop: asyncio.Event, prefix: str, local: Any) -> int:
    """One candidacy: wait for the lease, serve, let everything go."""
    from bot.cluster.lease import PgEngineLease
    from engine.db import make_engine

    lease_s = settings.cluster.lease_s
    db = make_engine(settings.storage.database_url)
    lease = PgEngineLease(db, timeout_s=lease_s, check_s=min(1.0, lease_s / 3),
                          poll_s=min(0.25, lease_s / 10))
    stopping = asyncio.create_task(stop.wait())
    try:
        if not await lease.acquire(wait=False):
            _say("standby, waiting for the engine lease")
            acquiring = asyncio.create_task(lease.acquire(wait=True))
            await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not acquiring.done():
                acquiring.cancel()
                await asyncio.gather(acquiring, return_exceptions=True)
                return 0
            acquiring.result()
        _say(f"active (epoch {lease.epoch})")
        return await _serve(settings, db, lease, stopping, prefix, local)
    finally:
        stopping.cancel()
        await _bounded(lease.release(), 5)
        await _bounded(db.dispose(), 5)


async def _serve(settings: Any, db: Any, lease: Any, stopping: asyncio.Task, prefix: str,
                 local: Any) -> int:
    """Open the engine (state rebuilt from the database), serve commands and tick until told to stop."""
    from dataclasses import replace

    import structlog

    from bot.app import make_clock
    from bot.cli.common import freeze_startup_heap
    from bot.cluster.engine_rpc import EngineServer
    from bot.cluster.redis_client import connect
    from engine.factory import open_engine
    from engine.params import EngineParams

    log = structlog.get_logger("gridworks.engine_role")
    log.info("engine_role.active", epoch=lease.epoch, prefix=prefix)
    clock = make_clock(settings, simulated=False)
    # The cluster's engine serves every worker at once: concurrent commands share one transaction (group
    # commit), whatever config/engine.toml says for the one-process default (measured on PostgreSQL with 200
    # concurrent orders: about 150 orders/s one commit each, 1,700 grouped).
    params = replace(EngineParams.from_config(settings.product.engine), group_commit=True)
    from bot.stores.crypto import DataCipher

    engine = await open_engine(db=db, clock=clock, config=settings.product, params=params,
                               keyring=DataCipher.from_secrets(settings.secrets))   # PRO rows sealed at rest
    engine.store.fence = lease.fence           # every write re-checks the epoch inside its transaction
    client = connect(settings.storage.redis_url)
    server = EngineServer(engine, client, prefix=prefix)
    serving = server.start()
    if local is not None:
        local.engine = engine
    freeze_startup_heap()
    ticker = asyncio.create_task(server.run_ticker(settings.tick_seconds, clock))
    lost = asyncio.create_task(lease.lost.wait())
    try:
        await asyncio.wait({stopping, lost, serving, ticker}, return_when=asyncio.FIRST_COMPLETED)
        if lost.done():
            log.error("engine_role.lease_lost", epoch=lease.epoch)
            _say(f"lease lost (epoch {lease.epoch}); stopping")
            code = EXIT_LEASE_LOST
        elif stopping.done():
            code = 0
        else:
            failed = serving if serving.done() else ticker
            exc = None if failed.cancelled() else failed.exception()
            log.error("engine_role.server_failed", error=type(exc).__name__ if exc else "stopped")
            code = 1
    finally:
        if local is not None:
            local.engine = None              # this process's worker goes through the stream from now on
        lost.cancel()
        server.stop_ticker()
        ticker.cancel()
        await _bounded(asyncio.gather(ticker, return_exceptions=True), 10)
        await _bounded(server.stop(drain_s=5), 10)
        if local is not None:
            await _bounded(local.drain(5), 10)
        await _bounded(engine.close(), 10)
        await _bounded(client.aclose(), 2)
    if code == 0:
        _say("stopped")
    return code


async def _bounded(aw: Any, seconds: float) -> None:
    """Shutdown steps must not hang the exit (a dead database, a dead Redis)."""
    import structlog

    try:
        await asyncio.wait_for(aw, seconds)
    except Exception as exc:   # noqa: BLE001 - logged; the process is exiting anyway
        structlog.get_logger("gridworks.engine_role").warning("engine_role.shutdown_step_failed",
                                                              error=type(exc).__name__)
