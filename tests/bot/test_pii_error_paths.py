"""Known personal data (a phone number in several formats, a BSUID, a name, a PIN, a message text) sent through
every error path of the running webhook — bad and odd signatures, unreadable and malformed bodies, Graph API
errors (4xx and 5xx, with the data echoed in Meta's error text), the database going away in the middle of a
user's turns — is found in none of the log output (structlog and every stdlib logger, captured together).

``tests/core/test_logging.py`` holds the processor-level cases (fields, exception messages, SQL parameters,
other libraries' lines); this module drives the real pipeline end to end so a new log line anywhere on these
paths is covered without being named here."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from bot.logging import LogRateLimiter, configure_logging
from engine.db import dispose
from tests.bot.conftest import webhook_env
from tests.bot.test_webhook import post
from tests.core.test_logging import BSUID, NAME, PHONE, PHONES, PIN, TEXT, leaks
from tests.support import payloads as p
from tests.support.graph_api import FakeGraphAPI

SAID = f"{TEXT} — call me on {PHONES[0]}, my PIN is {PIN}"


@pytest.fixture(params=["INFO", "DEBUG"])
def out(request):
    """All log output at the production level and at DEBUG (where the libraries say the most)."""
    stream = io.StringIO()
    configure_logging(request.param, stream=stream, limiter=LogRateLimiter())
    yield stream
    configure_logging("WARNING")


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def contact() -> dict:
    return p.contact(PHONE, bsuid=BSUID, name=NAME)


def said(body: str = SAID, **kw) -> dict:
    return p.text(PHONE, body, bsuid=BSUID, **kw)


async def onboard(env) -> None:
    """The user writes, picks English, consents and sets their PIN, all through the webhook."""
    for msg in (said("hello"), p.button_reply(PHONE, "onb_lang:en", "English", bsuid=BSUID),
                p.button_reply(PHONE, "onb_consent:yes", "I agree", bsuid=BSUID), said(PIN)):
        assert (await post(env, p.envelope(p.messages_value([msg], [contact()])))).status == 200
        await env.roles.settle(timeout=120)


async def wait_for_event(stream: io.StringIO, *events: str, timeout: float = 20.0) -> list[dict]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        found = [line for line in lines(stream) if line.get("event") in events]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {events} line in {[line.get('event') for line in lines(stream)]}")


async def test_signature_and_body_errors_log_no_personal_data(webhook, out) -> None:
    good = p.envelope(p.messages_value([said()], [contact()]))
    raw = p.raw(good)
    # bad signatures: missing, wrong, carrying the phone number, non-ASCII, a body that was altered
    assert (await post(webhook, good, signature=None)).status == 401
    for signature in ("sha256=" + "0" * 64, f"sha256={PHONE}", f"{PHONES[0]} {NAME}", "sha256=é" + PIN):
        assert (await post(webhook, good, signature=signature)).status == 403
    assert (await post(webhook, good, signature=p.sign(raw), raw=raw.replace(b"call", b"ring"))).status == 403
    # unreadable bodies, each carrying the data
    for broken in (raw[:-3], b"[" * 5000 + raw + b"]" * 5000, raw.replace(b"{", b"{\xff", 1),
                   raw[:-1] + b',"n":NaN}', json.dumps([NAME, PHONES[1], SAID]).encode()):
        assert (await post(webhook, good, signature=p.sign(broken), raw=broken)).status == 400
    # readable bodies with broken items: a sender in the wrong format, a text that is a number, contacts that are
    # a string, an unknown type, a status whose error echoes the data
    bad_from = said()
    bad_from["from"] = PHONES[0]
    number_text = said()
    number_text["text"] = {"body": int(PHONE)}
    unknown = p.message(PHONE, "payment", {"name": NAME, "phone": PHONES[2], "note": SAID}, bsuid=BSUID)
    failed = p.status("wamid.x", "failed", recipient=PHONE, error=(131026, f"{NAME} {PHONES[1]} unreachable"))
    for body in (p.envelope(p.messages_value([bad_from], [contact()])),
                 p.envelope(p.messages_value([number_text], [contact()])),
                 p.envelope({**p.messages_value([said()], []), "contacts": f"{NAME} {PHONES[3]}"}),
                 p.envelope(p.messages_value([unknown], [contact()])),
                 p.envelope(p.statuses_value([failed]))):
        assert (await post(webhook, body)).status == 200
    handshake = await webhook.http.get("/webhook", params={"hub.mode": "subscribe", "hub.verify_token": PHONES[0],
                                                           "hub.challenge": NAME})
    assert handshake.status == 403
    await webhook.settle()
    output = out.getvalue()
    assert leaks(output) == [], [line for line in lines(out) if leaks(json.dumps(line, ensure_ascii=False))]
    events = {line["event"] for line in lines(out)}
    assert {"webhook_rejected", "body_rejected"} <= events, events      # the paths were really taken


class FailingGraph(FakeGraphAPI):
    """The fake Graph API answering sends to the user with ``status`` and an error that echoes their data."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status
        self.failed = 0

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("to") == PHONE and body.get("status") != "read" and self.status:
            self.failed += 1
            self._record(request, json=body)
            return web.json_response({"error": {
                "message": f"(#131000) Something went wrong sending to {PHONES[0]} ({NAME}): {SAID}",
                "type": "OAuthException", "code": 131000 if self.status >= 500 else 131026,
                "error_data": {"messaging_product": "whatsapp", "details": f"{NAME} {PHONES[1]} {SAID}"},
                "fbtrace_id": "AbCdEf123"}}, status=self.status)
        return await super()._messages(request)


@pytest.fixture(params=[400, 500])
async def failing_webhook(request, tmp_path: Path, clock):
    """The webhook fixture of ``tests/bot/conftest.py``, in front of a Graph API that fails the user's sends."""
    async with webhook_env(tmp_path, clock, await FailingGraph(request.param).start()) as env:
        yield env


async def test_graph_api_errors_log_no_personal_data(failing_webhook, out) -> None:
    env, graph = failing_webhook, failing_webhook.graph
    status, graph.status = graph.status, 0            # onboarding goes through
    await onboard(env)
    graph.status = status
    assert (await post(env, p.envelope(p.messages_value([said(), said("price of TCS")], [contact()])))
            ).status == 200
    # a 4xx is final (logged as failed); a 5xx is retried (logged per retry) until Meta recovers
    await wait_for_event(out, "outbound_failed" if status < 500 else "outbound_retry")
    graph.status = 0
    await env.roles.settle(timeout=120)
    assert graph.failed >= 1, "the sends really failed"
    output = out.getvalue()
    assert leaks(output) == [], [line for line in lines(out) if leaks(json.dumps(line, ensure_ascii=False))]


async def test_the_database_going_away_mid_conversation_logs_no_personal_data(webhook, out, tmp_path: Path) -> None:
    """The SQLite file disappears between a user's turns (connections closed, its path now a directory): the
    worker's turn fails on the database, is logged and retried; when the file is back the user is answered."""
    await onboard(webhook)
    db_file = tmp_path / "gw.db"
    await dispose(webhook.runtime.db)          # every connection to the file, the on-loop reader's too
    shutil.move(db_file, tmp_path / "gw.db.away")
    db_file.mkdir()
    before = len(webhook.graph.messages)
    try:
        assert (await post(webhook, p.envelope(p.messages_value([said(), said(PIN)], [contact()])))).status == 200
        failures = await wait_for_event(out, "entry_failed", "turn_failed")
    finally:
        db_file.rmdir()
        shutil.move(tmp_path / "gw.db.away", db_file)
    await webhook.roles.settle(timeout=120)
    assert "OperationalError" in failures[0]["exception"]
    assert [m["to"] for m in webhook.graph.messages[before:]], "answered once the database was back"
    output = out.getvalue()
    assert leaks(output) == [], [line for line in lines(out) if leaks(json.dumps(line, ensure_ascii=False))]
