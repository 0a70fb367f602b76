"""Logs cannot leak: known personal data fed through every kind of log line (fields the code never declared,
a handler failing with the data in its exception, a database error with bound parameters, another library's
lines) is found nowhere in the output, while what support needs (correlation ids, error types, codes, counts,
partitions, hashed keys) stays readable. Rejected-request lines are rate limited."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.logging import LogRateLimiter, configure_logging

PHONE = "919866000010"
PHONES = ("+91 98660 00010", "(+91) 98660-00010", "+91-98660-00010", "98660 00010", "098660.00010", PHONE)
BSUID = "IN.000000009198700008"
NAME = "Savitri Rangarajan"
PIN = "975310"
TEXT = "please sell my Infosys shares quietly"
CORRELATION = "5c8c11940104408a9658ff0de83235ac"


def leaks(output: str) -> list[str]:
    """Every piece of the known PII found in ``output`` (phone digits however they were separated)."""
    found = [s for s in (*PHONES, BSUID, PIN, *NAME.split(), TEXT, "Infosys", "quietly") if s in output]
    digits_only = re.sub(r"[\s().+\-]", "", output)
    found += [d for d in ("9866000010", "9198700008") if d in digits_only]
    return found


@pytest.fixture
def out():
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, limiter=LogRateLimiter())   # a budget of its own per test
    yield stream
    configure_logging("WARNING")


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_unknown_fields_are_hashed_people_are_hashed_texts_are_dropped(out) -> None:
    log = structlog.get_logger("t")
    log.info("turn", phone=PHONE, text=TEXT, name=NAME, user_key=BSUID, customer=NAME, pin_guess=PIN,
             typed=int(PIN), number=int(PHONE), contact=PHONES[1], note=f"{NAME} wrote '{TEXT}' from {PHONES[0]}",
             nested={"who": NAME}, correlation_id=CORRELATION, partition=3, count=2, error="ValueError",
             order_id="261123000000001", code=131047, wait_ms=1234, key_hash="a1b2c3d4e5f6")
    log.warning("body_rejected", reason=f"bad number {PHONES[1]} from {BSUID}")
    assert leaks(out.getvalue()) == []
    first, second = lines(out)
    assert first["correlation_id"] == CORRELATION and first["partition"] == 3 and first["count"] == 2
    assert first["error"] == "ValueError" and first["order_id"] == "261123000000001" and first["code"] == 131047
    assert first["wait_ms"] == 1234 and first["key_hash"] == "a1b2c3d4e5f6"
    assert first["text"] == first["name"] == "[redacted]"
    # the same person hashes the same way within a process: lines about one user still correlate
    log.info("again", phone=PHONE)
    assert lines(out)[-1]["phone"] == first["phone"] and first["phone"].startswith("h:")
    assert second["reason"] == "bad number [phone] from [bsuid]"


def test_ids_stay_readable_and_exception_messages_are_withheld(out) -> None:
    log = structlog.get_logger("t")
    try:
        try:
            raise KeyError(PHONE)
        except KeyError as inner:
            raise ValueError(f"no account for {NAME} at {PHONES[0]}: {TEXT} (pin {PIN})") from inner
    except ValueError:
        log.exception("turn_failed", correlation_id=CORRELATION)
    line = lines(out)[-1]
    assert line["correlation_id"] == CORRELATION
    assert "ValueError" in line["exception"] and "KeyError" in line["exception"]
    assert "test_logging.py" in line["exception"]               # the frames are kept: the bug can be found
    assert leaks(out.getvalue()) == []


async def test_a_failing_handler_and_a_database_down_mid_turn_leak_nothing(tmp_path: Path, clock, out) -> None:
    from bot.app import build_runtime
    from bot.stores.memory import MemorySessionStore
    from config.settings import load_settings
    from handlers.dispatcher import Dispatcher
    from handlers.messages import InboundMessage, Sender
    from handlers.router import Router
    from handlers.turn import TurnStatus

    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "s"),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
    runtime = await build_runtime(settings, clock=clock, with_receipts=False)
    router = Router("t")

    @router.fallback()
    async def broken(ctx):
        raise RuntimeError(f"no account for {ctx.user.name} at {PHONES[1]}: {ctx.text} (pin {PIN})")

    class DatabaseDown:
        async def record_inbound(self, message, *, user_key, correlation_id, **_more):
            raise OperationalError("INSERT INTO messages (user_key, body) VALUES (?, ?)",
                                   {"user_key": user_key, "body": message.text}, ConnectionError(PHONES[0]))

    def message(mid: str, body: str) -> InboundMessage:
        return InboundMessage(id=mid, sender=Sender(phone=PHONE, name=NAME), timestamp=datetime.now(UTC),
                              text=body)

    try:
        failed = await Dispatcher(router=router, services=runtime.services, sessions=MemorySessionStore(),
                                  audit=runtime.audit).handle(message("wamid.m1", TEXT))
        down = await Dispatcher(router=router, services=runtime.services, sessions=MemorySessionStore(),
                                audit=DatabaseDown()).handle(message("wamid.m2", f"{TEXT} {PIN}"))
    finally:
        await runtime.close()
    assert failed.status is down.status is TurnStatus.ERROR
    assert leaks(out.getvalue()) == []
    logged = [line for line in lines(out) if line["event"] == "turn_failed"]
    assert [line["correlation_id"] for line in logged] == [failed.correlation_id, down.correlation_id]
    assert "RuntimeError" in logged[0]["exception"]
    assert "OperationalError" in logged[1]["exception"] and "INSERT INTO messages" in logged[1]["exception"]


async def test_sql_errors_are_logged_without_their_parameters(db, out) -> None:
    """The engine hides bound parameters in its errors, and the log shows the statement and the driver's code
    (PostgreSQL's own message would quote the duplicate key: it is withheld too)."""
    async with db.begin() as conn:
        await conn.execute(text("CREATE TABLE pii_probe (phone VARCHAR(40) PRIMARY KEY, name TEXT, body TEXT)"))
    row = {"phone": PHONES[0], "name": NAME, "body": f"{TEXT} {PIN}"}
    async with db.begin() as conn:
        await conn.execute(text("INSERT INTO pii_probe VALUES (:phone, :name, :body)"), row)
    with pytest.raises(IntegrityError) as caught:
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO pii_probe VALUES (:phone, :name, :body)"), row)
    assert NAME not in str(caught.value) and TEXT not in str(caught.value)       # hide_parameters
    structlog.get_logger("t").error("store_failed", exc_info=caught.value, correlation_id=CORRELATION)
    assert leaks(out.getvalue()) == []
    line = lines(out)[-1]
    assert "IntegrityError" in line["exception"] and "INSERT INTO pii_probe" in line["exception"]
    assert "parameters withheld" in line["exception"] and "code=" in line["exception"]


def test_other_libraries_lines_are_redacted_and_rate_limited(out) -> None:
    """pywa logs every bad signature (with the header), aiohttp every request (with its query string), asyncio
    a failed task's exception: all through the same redaction, warnings at a bounded rate."""
    for _ in range(200):
        logging.getLogger("pywa.server").warning(
            "[%s] Received an update with unmatching signature: '%s'", "/webhook", f"sha256={PHONE}")
    logging.getLogger("aiohttp.access").info(
        f'10.1.2.3 [07/Dec/2026:10:00:00 +0000] "GET /webhook?hub.verify_token=s3cret&from={PHONE} HTTP/1.1" 200')
    for n in range(100):                        # a flood of refused requests: their access lines are limited
        logging.getLogger("aiohttp.access").info(f'10.9.8.{n % 250} "POST /webhook HTTP/1.1" 403',
                                                 extra={"response_status": 403})
    logging.getLogger("gridworks.legacy").error("could not reach %s (%s)", NAME, PHONES[2])
    try:
        raise RuntimeError(f"{NAME}: {TEXT}")
    except RuntimeError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    output = out.getvalue()
    assert leaks(output) == [] and "s3cret" not in output and "10.1.2.3" not in output
    signature = [line for line in lines(out) if "unmatching signature" in line["event"]]
    assert 1 <= len(signature) <= 5 and all(line["logger"] == "pywa.server" for line in signature)
    refused = [line for line in lines(out) if line["logger"] == "aiohttp.access" and "403" in line["event"]]
    assert 1 <= len(refused) <= 5 and "10.9.8." not in output
    failed = [line for line in lines(out) if line["logger"] == "asyncio"]
    assert failed and "RuntimeError" in failed[0]["exception"]


def test_rejected_request_lines_are_rate_limited_with_a_count_of_the_suppressed() -> None:
    now = [0.0]
    limiter = LogRateLimiter(burst=3, window=10.0, clock=lambda: now[0])
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, limiter=limiter)
    try:
        log = structlog.get_logger("gridworks.webhook")
        for _ in range(1000):
            log.warning("webhook_rejected", reason="bad_signature", rate_limit="bad_signature")
        log.warning("webhook_rejected", reason="bad_json", rate_limit="bad_json")    # its own budget
        log.info("turn", partition=1)                                                 # not limited at all
        now[0] = 10.0
        log.warning("webhook_rejected", reason="bad_signature", rate_limit="bad_signature")
    finally:
        configure_logging("WARNING")
    emitted = lines(stream)
    rejected = [line for line in emitted if line.get("reason") == "bad_signature"]
    assert len(rejected) == 4 and rejected[-1]["suppressed"] == 997 and "suppressed" not in rejected[0]
    assert [line.get("reason") for line in emitted].count("bad_json") == 1
    assert limiter.suppressed_total == 997
    # keys come from outside: the limiter's memory is bounded
    small = LogRateLimiter(burst=1, max_keys=8)
    for i in range(100):
        small.admit(("ip", i))
    assert len(small._keys) == 8


def test_the_level_reaches_stdlib_and_aiohttp_loggers_and_a_later_call_replaces_an_earlier_one():
    """A short command configures WARNING first; serve's later DEBUG must still reach aiohttp's loggers."""
    stream = io.StringIO()
    configure_logging("WARNING", stream=stream, limiter=LogRateLimiter())
    logging.getLogger("aiohttp.web").debug("quiet %s", 1)
    configure_logging("DEBUG", stream=stream, limiter=LogRateLimiter())
    try:
        logging.getLogger("aiohttp.web").debug("loud %s", 2)
        structlog.get_logger("t").debug("debug_line")
    finally:
        configure_logging("WARNING")
    got = lines(stream)
    assert [line["event"] for line in got] == ["loud %s", "debug_line"]
    assert got[0]["logger"] == "aiohttp.web" and got[0]["level"] == "debug"


def test_level_none_reads_gridworks_log_level(monkeypatch):
    from bot.logging import level_number

    monkeypatch.setenv("GRIDWORKS_LOG_LEVEL", "debug")
    assert level_number(None) == logging.DEBUG
    monkeypatch.delenv("GRIDWORKS_LOG_LEVEL")
    assert level_number(None) == logging.WARNING


async def test_access_log_names_the_route_template_never_the_path_query_or_caller(out):
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.logging import access_logger

    async def hello(_request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/users/{who}", hello)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log_class=access_logger())
    async with TestClient(server) as http:
        assert (await http.get(f"/users/{PHONE}", params={"hub.verify_token": PIN, "name": NAME})).status == 200
        assert (await http.get(f"/nowhere/{PHONE}")).status == 404
    access = [line for line in lines(out) if line["event"] == "http_access"]
    assert [(a["method"], a["route"], a["status"]) for a in access] == [
        ("GET", "/users/{who}", 200), ("GET", "unmatched", 404)]
    assert all(isinstance(a["ms"], float) for a in access)
    assert leaks(out.getvalue()) == [] and "127.0.0.1" not in out.getvalue()
