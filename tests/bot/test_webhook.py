"""The webhook end to end: signed Meta-shaped POSTs in, real pywa sends out to the fake Graph API."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from bot.stores.sql import messages as messages_table
from tests.support import payloads as p

PHONE_A, PHONE_B, PHONE_C = "919800000011", "919800000012", "919800000013"


async def post(env, body: dict, *, signature: str | None = "auto", raw: bytes | None = None):
    data = raw if raw is not None else p.raw(body)
    headers = {"Content-Type": "application/json"}
    if signature == "auto":
        headers["X-Hub-Signature-256"] = p.sign(data)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return await env.http.post("/webhook", data=data, headers=headers)


async def inbound_rows(env) -> list:
    async with env.runtime.db.connect() as conn:
        return (await conn.execute(select(messages_table).where(messages_table.c.direction == "in"))).all()


async def test_verification_handshake_checks_mode_and_token(webhook):
    ok = await webhook.http.get("/webhook", params={"hub.mode": "subscribe", "hub.verify_token": "verify-me",
                                                    "hub.challenge": "1158201444"})
    assert ok.status == 200 and await ok.text() == "1158201444"
    wrong_token = await webhook.http.get("/webhook", params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                                             "hub.challenge": "1"})
    assert wrong_token.status == 403
    wrong_mode = await webhook.http.get("/webhook", params={"hub.mode": "unsubscribe",
                                                            "hub.verify_token": "verify-me", "hub.challenge": "1"})
    assert wrong_mode.status == 403


async def test_unsigned_bad_signature_and_bad_json_touch_nothing(webhook):
    body = p.envelope(p.messages_value([p.text(PHONE_A, "hi")], [p.contact(PHONE_A)]))
    assert (await post(webhook, body, signature=None)).status == 401
    assert (await post(webhook, body, signature="sha256=" + "0" * 64)).status == 403
    tampered = p.raw(body).replace(b"hi", b"yo")
    assert (await post(webhook, body, signature=p.sign(p.raw(body)), raw=tampered)).status == 403
    not_json = b"{not json"
    assert (await post(webhook, {}, signature=p.sign(not_json), raw=not_json)).status == 400
    await webhook.settle()
    assert await inbound_rows(webhook) == []
    assert webhook.graph.requests == []


async def test_batch_of_three_gets_three_conversations_and_replay_gets_none(webhook):
    msgs = [p.text(PHONE_A, "hi"), p.text(PHONE_B, "namaste"), p.text(PHONE_C, "hello")]
    body = p.envelope(p.messages_value(msgs, [p.contact(PHONE_A), p.contact(PHONE_B), p.contact(PHONE_C)]))
    response = await post(webhook, body)
    assert response.status == 200
    await webhook.settle()
    sent = webhook.graph.messages
    assert {m["to"] for m in sent} == {PHONE_A, PHONE_B, PHONE_C}
    # A reply is the read receipt: no plain read receipt for a message that was answered (a turn slower than
    # a second on this machine shows the typing indicator instead, once).
    assert all("typing_indicator" in r for r in webhook.graph.reads), webhook.graph.reads
    assert len({r["message_id"] for r in webhook.graph.reads}) == len(webhook.graph.reads) <= len(msgs)
    assert all(m["messaging_product"] == "whatsapp" and m["recipient_type"] == "individual" for m in sent)
    before = len(webhook.graph.requests)
    assert (await post(webhook, body)).status == 200
    await webhook.settle()
    assert len(webhook.graph.requests) == before, "a replayed batch must produce no reply and no read"
    assert len(await inbound_rows(webhook)) == 3


async def test_entries_and_changes_are_all_processed(webhook):
    body = p.envelope(p.messages_value([p.text(PHONE_A, "hi")], [p.contact(PHONE_A)]),
                      p.messages_value([p.text(PHONE_B, "hi")], [p.contact(PHONE_B)]))
    await post(webhook, body)
    await webhook.settle()
    assert {m["to"] for m in webhook.graph.messages} == {PHONE_A, PHONE_B}


async def test_interactive_template_and_media_messages_are_parsed_and_answered(webhook):
    msgs = [p.button_reply(PHONE_A, "help:prices", "Prices"), p.list_reply(PHONE_B, "help:buy", "Buy shares"),
            p.template_button(PHONE_C, "help:learn", "Learn"), p.image("919800000014")]
    contacts = [p.contact(x) for x in (PHONE_A, PHONE_B, PHONE_C, "919800000014")]
    await post(webhook, p.envelope(p.messages_value(msgs, contacts)))
    await webhook.settle()
    assert {m["to"] for m in webhook.graph.messages} == {PHONE_A, PHONE_B, PHONE_C, "919800000014"}
    rows = {r.wamid: r for r in await inbound_rows(webhook)}
    assert rows[msgs[0]["id"]].payload == "help:prices" and rows[msgs[0]["id"]].kind == "button"
    assert rows[msgs[1]["id"]].payload == "help:buy" and rows[msgs[1]["id"]].kind == "list"
    assert rows[msgs[2]["id"]].payload == "help:learn"
    assert rows[msgs[3]["id"]].kind == "media"


async def test_user_without_phone_is_addressed_by_bsuid(webhook):
    bsuid = "IN.13491208655302741918"
    msg = p.text(None, "hi", bsuid=bsuid)
    await post(webhook, p.envelope(p.messages_value([msg], [p.contact(None, bsuid=bsuid)])))
    await webhook.settle()
    sent = webhook.graph.messages
    assert sent and all(m.get("recipient") == bsuid and "to" not in m for m in sent)


async def test_one_users_messages_are_answered_in_arrival_order(webhook):
    msgs = [p.text(PHONE_A, "hi"), p.text(PHONE_A, "help"), p.text(PHONE_A, "price of TCS")]
    await post(webhook, p.envelope(p.messages_value(msgs, [p.contact(PHONE_A)])))
    await webhook.settle()
    async with webhook.runtime.db.connect() as conn:
        rows = (await conn.execute(select(messages_table).order_by(messages_table.c.id))).all()
    inbound_order = [r.wamid for r in rows if r.direction == "in"]
    assert inbound_order == [m["id"] for m in msgs]
    # every outbound row of turn k is logged after the inbound row of turn k and before turn k+1's replies
    corr = [r.correlation_id for r in rows if r.direction == "out"]
    firsts = list(dict.fromkeys(corr))
    turn_of = {r.correlation_id: r.wamid for r in rows if r.direction == "in"}
    assert [turn_of[c] for c in firsts] == [m["id"] for m in msgs]


async def test_statuses_are_recorded_including_failed_without_contacts(webhook):
    await post(webhook, p.envelope(p.messages_value([p.text(PHONE_A, "hi"), p.text(PHONE_A, "help")],
                                                    [p.contact(PHONE_A)])))
    await webhook.settle()
    key = (await webhook.runtime.users.find(PHONE_A)).key
    outbound = await webhook.runtime.audit.outbound(key)
    first, last = outbound[0]["wamid"], outbound[-1]["wamid"]
    assert first != last
    await post(webhook, p.envelope(p.statuses_value([p.status(first, "sent"), p.status(first, "read"),
                                                     p.status(first, "delivered")])))
    failed = p.statuses_value([p.status(last, "failed", error=(131047, "Re-engagement message"))])
    assert "contacts" not in failed
    await post(webhook, p.envelope(failed))
    await webhook.settle()
    rows = {r["wamid"]: r for r in await webhook.runtime.audit.outbound(key)}
    assert rows[first]["status"] == "read", "a late 'delivered' must not move 'read' backwards"
    assert rows[last]["status"] == "failed" and rows[last]["error_code"] == 131047


async def test_graph_errors_do_not_stop_the_loop(webhook):
    webhook.graph.fail_for[PHONE_B] = (131047, "Re-engagement message")
    msgs = [p.text(PHONE_B, "hi"), p.text(PHONE_A, "hi")]
    await post(webhook, p.envelope(p.messages_value(msgs, [p.contact(PHONE_A), p.contact(PHONE_B)])))
    await webhook.settle()
    assert any(m["to"] == PHONE_A for m in webhook.graph.messages)
    key_b = (await webhook.runtime.users.find(PHONE_B)).key
    failed = [r for r in await webhook.runtime.audit.outbound(key_b) if r["wamid"] is None]
    assert failed, "the failed send is logged as unsent"


async def test_reply_shapes_respect_whatsapp_limits(webhook):
    await post(webhook, p.envelope(p.messages_value([p.text(PHONE_A, "help")], [p.contact(PHONE_A)])))
    await webhook.settle()
    for m in webhook.graph.messages:
        if m["type"] == "interactive":
            inter = m["interactive"]
            if inter["type"] == "button":
                assert len(inter["action"]["buttons"]) <= 3
                assert all(len(b["reply"]["title"]) <= 20 for b in inter["action"]["buttons"])
            if inter["type"] == "list":
                rows = [r for s in inter["action"]["sections"] for r in s["rows"]]
                assert len(rows) <= 10 and all(len(r["title"]) <= 24 for r in rows)
    assert any(m["type"] in ("interactive", "text") for m in webhook.graph.messages)


async def test_health_and_readiness(webhook):
    assert (await webhook.http.get("/healthz")).status == 200
    ready = await webhook.http.get("/readyz")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"


async def test_requests_carry_the_bearer_token_and_api_version(webhook):
    await post(webhook, p.envelope(p.messages_value([p.text(PHONE_A, "hi")], [p.contact(PHONE_A)])))
    await webhook.settle()
    assert webhook.graph.requests
    for req in webhook.graph.requests:
        assert req.headers["Authorization"] == "Bearer EAAtoken"
        assert req.path.startswith(f"/v22.0/{p.PHONE_NUMBER_ID}/")


async def test_concurrent_posts_of_the_same_message_run_it_once(webhook):
    body = p.envelope(p.messages_value([p.text(PHONE_A, "hi")], [p.contact(PHONE_A)]))
    results = await asyncio.gather(*(post(webhook, body) for _ in range(5)))
    assert all(r.status == 200 for r in results)
    await webhook.settle()
    assert len(await inbound_rows(webhook)) == 1
    assert len(webhook.graph.messages) == 1, "one turn, one reply"


async def test_the_server_ticks_on_its_own_and_pushes_a_triggered_alert(tmp_path, clock):
    """Nobody writes, yet a price alert that the market has reached reaches the user: ``serve`` moves the
    market every GRIDWORKS_TICK_SECONDS and pushes what the tick hooks produce through the Cloud API."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.roles import build_roles
    from bot.webhook import create_web_app
    from bot.whatsapp.client import build_client
    from config.settings import load_settings
    from handlers.messages import Sender
    from tests.support.graph_api import FakeGraphAPI

    graph = await FakeGraphAPI().start()
    settings = load_settings({
        "WHATSAPP_APP_SECRET": p.APP_SECRET, "WHATSAPP_TOKEN": "EAAtoken",
        "WHATSAPP_PHONE_NUMBER_ID": p.PHONE_NUMBER_ID, "WHATSAPP_GRAPH_URL": graph.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}", "GRIDWORKS_STATE_DIR": str(tmp_path / "state"),
        "GRIDWORKS_TICK_SECONDS": "0.05"})
    client = build_client(settings.whatsapp)
    roles = await build_roles(settings, client=client, clock=clock)
    runtime = roles.runtime
    user = await runtime.users.get_or_create(Sender(phone="919800000555"), now=clock.now(), language="en")
    ltp = (await runtime.engine.quote("TCS")).ltp_paise
    await runtime.services.alerts.add(user_key=user.key, symbol="TCS", direction="above",
                                      target_paise=ltp - 100, reference_paise=ltp, now=clock.now())
    app = create_web_app(settings=settings, client=client, intake=roles.intake, db=runtime.db, roles=roles)
    http = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    try:
        [sent] = await graph.wait_for(1, timeout=10)
    finally:
        await http.close()
        await graph.stop()
    assert sent["to"] == "919800000555" and "TCS" in json.dumps(sent, ensure_ascii=False)


async def test_a_malformed_item_never_blocks_its_neighbours_nor_fails_the_request(webhook):
    """One mistyped message beside two good ones (and a broken status): 200, the good ones answered, the bad
    one recorded as rejected — Meta does not retry a 2xx, so a 5xx here would lose the good messages."""
    good = [p.text(PHONE_A, "hi"), p.text(PHONE_B, "hello")]
    broken = p.text(PHONE_C, "hi")
    broken["text"] = ["not", "an", "object"]
    broken.pop("from")
    broken.pop("from_user_id")
    value = p.messages_value([good[0], broken, good[1]], [p.contact(PHONE_A), p.contact(PHONE_B)])
    value["statuses"] = [{"id": 7, "status": None}]
    response = await post(webhook, p.envelope(value))
    assert response.status == 200
    assert (await response.json())["rejected"] >= 2
    await webhook.settle()
    assert {r.wamid for r in await inbound_rows(webhook)} == {m["id"] for m in good}
    assert {m["to"] for m in webhook.graph.messages} == {PHONE_A, PHONE_B}
    assert webhook.roles.side.rejected, "the rejected items are counted by reason"


async def test_rejected_requests_are_logged_but_rate_limited(webhook):
    """A flood of forged POSTs cannot flood the logs: a few lines per reason, then a suppressed count."""
    import io

    from bot.logging import LogRateLimiter, configure_logging

    out = io.StringIO()
    configure_logging("INFO", stream=out, limiter=LogRateLimiter())
    try:
        body = p.envelope(p.messages_value([p.text(PHONE_A, "hi")], [p.contact(PHONE_A)]))
        for _ in range(40):
            assert (await post(webhook, body, signature="sha256=" + "0" * 64)).status == 403
    finally:
        configure_logging("WARNING")
    lines = [json.loads(line) for line in out.getvalue().splitlines() if "webhook_rejected" in line]
    assert 1 <= len(lines) <= 5 and all(line["reason"] == "bad_signature" for line in lines)


async def test_an_overloaded_in_process_intake_refuses_whole_deliveries_so_meta_retries_them(tmp_path):
    """Past GRIDWORKS_INTAKE_MAX waiting messages a delivery gets 503, nothing of it kept (not even its ids as
    seen): under overload work waits at Meta, which retries, not in this process's memory."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.cluster.intake import MemoryIntake
    from bot.webhook import create_web_app
    from bot.whatsapp.client import build_client, close_client
    from config.settings import load_settings

    settings = load_settings({"WHATSAPP_APP_SECRET": p.APP_SECRET, "GRIDWORKS_STATE_DIR": str(tmp_path),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}", "GRIDWORKS_INTAKE_MAX": "2"})
    assert settings.cluster.intake_max == 2
    intake = MemoryIntake(partitions=4, max_backlog=settings.cluster.intake_max)
    client = build_client(settings.whatsapp)
    http = TestClient(TestServer(create_web_app(settings=settings, client=client, intake=intake, db=None),
                                 host="127.0.0.1"))
    await http.start_server()
    env = type("Env", (), {"http": http})

    def delivery(*ids: str) -> dict:
        msgs = [dict(p.text(PHONE_A, "hi"), id=i) for i in ids]
        return p.envelope(p.messages_value(msgs, [p.contact(PHONE_A)]))

    try:
        assert (await post(env, delivery("wamid.o1", "wamid.o2", "wamid.o3"))).status == 503
        assert intake.depth == 0, "a refused delivery keeps nothing"
        assert (await post(env, delivery("wamid.o1", "wamid.o2"))).status == 200
        assert (await post(env, delivery("wamid.o3"))).status == 503
        await intake.read([0, 1, 2, 3], "t", count=10, block_ms=10)     # the worker takes what waits
        retried = await post(env, delivery("wamid.o3"))
        assert retried.status == 200 and (await retried.json())["new"] == 1, "Meta's retry is taken in full"
    finally:
        await http.close()
        await close_client(client)
