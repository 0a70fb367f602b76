"""Batch parsing (every message, status and preference) and the exact requests our sender makes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.stores.sql import SqlAuditLog, create_schema
from bot.whatsapp.client import build_client, close_client
from bot.whatsapp.parse import parse_batch
from bot.whatsapp.sender import WhatsAppMessenger
from config.settings import WhatsAppConfig
from engine.api import Tier
from handlers.messages import MessageKind
from handlers.replies import Button, Buttons, Document, ListReply, ListRow, Template, Text
from handlers.users import User
from tests.support import payloads as p
from tests.support.graph_api import FakeGraphAPI


@pytest.fixture
def client():
    return build_client(WhatsAppConfig(app_secret=p.APP_SECRET, token="EAAtoken",
                                       phone_number_id=p.PHONE_NUMBER_ID, graph_url="http://127.0.0.1:9"))


def test_every_message_status_and_preference_of_a_batch_is_parsed(client):
    msgs = [p.text("919800000001", "hi"), p.button_reply("919800000002", "confirm:o1:n1", "Confirm"),
            p.list_reply("919800000003", "cancel:o9", "TCS"), p.template_button("919800000004", "alert:x", "OK")]
    body = p.envelope(
        p.messages_value(msgs[:2], [p.contact("919800000001"), p.contact("919800000002")]),
        p.messages_value(msgs[2:], [p.contact("919800000003"), p.contact("919800000004")]),
        p.statuses_value([p.status("wamid.x", "delivered"), p.status("wamid.y", "failed", error=(131026, "x"))]),
    )
    body["entry"].append({"id": "WABA1", "changes": [{"field": "user_preferences", "value": {
        "user_preferences": [{"wa_id": "919800000001", "category": "marketing_messages", "value": "stop",
                              "timestamp": "1795400000"}]}}]})
    batch = parse_batch(body, client)
    assert [m.id for m in batch.messages] == [m["id"] for m in msgs]
    assert batch.messages[0].kind is MessageKind.TEXT and batch.messages[0].text == "hi"
    assert batch.messages[0].sender.phone == "919800000001" and batch.messages[0].sender.user_id
    assert batch.messages[1].kind is MessageKind.BUTTON and batch.messages[1].payload == "confirm:o1:n1"
    assert batch.messages[2].kind is MessageKind.LIST and batch.messages[2].payload == "cancel:o9"
    assert batch.messages[3].kind is MessageKind.BUTTON and batch.messages[3].payload == "alert:x"
    assert [(s.wamid, s.status, s.error_code) for s in batch.statuses] == [
        ("wamid.x", "delivered", None), ("wamid.y", "failed", 131026)]
    assert [(x.wa_id, x.value) for x in batch.preferences] == [("919800000001", "stop")]


def test_a_malformed_item_does_not_lose_the_rest(client):
    good = p.text("919800000001", "hi")
    broken = {"type": "text"}  # no id
    batch = parse_batch(p.envelope(p.messages_value([broken, good], [p.contact("919800000001")])), client)
    assert [m.id for m in batch.messages] == [good["id"]]


def test_messages_without_a_bsuid_contact_still_parse(client):
    msg = p.text("919800000001", "hello")
    msg.pop("from_user_id")
    batch = parse_batch(p.envelope(p.messages_value([msg], [{"profile": {"name": "A"}, "wa_id": "919800000001"}])),
                        client)
    assert batch.messages[0].sender.key == "919800000001" and batch.messages[0].text == "hello"


async def test_sender_produces_the_exact_cloud_api_requests(tmp_path, db):
    graph = await FakeGraphAPI().start()
    try:
        await create_schema(db)
        client = build_client(WhatsAppConfig(app_secret=p.APP_SECRET, token="EAAtoken",
                                             phone_number_id=p.PHONE_NUMBER_ID, graph_url=graph.url))
        audit = SqlAuditLog(db)
        messenger = WhatsAppMessenger(client, audit=audit)
        user = User(key="919800000001", phone="919800000001", bsuid="IN.1", name="A", tier=Tier.LITE,
                    language="en", created_at=datetime.now(timezone.utc))
        ids = await messenger.push(user, [
            Text("hello"),
            Buttons("Confirm?", (Button("confirm:o1:n", "Confirm"), Button("cancel:o1:n", "Cancel"))),
            ListReply("Pick", "Menu", (ListRow("r1", "One", "first"), ListRow("r2", "Two"))),
            Template(name="price_alert", language="hi", params=("TCS", "₹4,000.00"), button_payloads=("alert:ok",)),
            Document(filename="R-1.json", content=b'{"v":1}', caption="receipt"),
        ])
        assert len(ids) == 5 and all(i.startswith("wamid.") for i in ids)
        sent = graph.messages
        assert sent[0] == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "919800000001",
                           "type": "text", "text": {"body": "hello", "preview_url": False}}
        assert sent[1]["interactive"]["type"] == "button"
        assert [b["reply"] for b in sent[1]["interactive"]["action"]["buttons"]] == [
            {"id": "confirm:o1:n", "title": "Confirm"}, {"id": "cancel:o1:n", "title": "Cancel"}]
        rows = sent[2]["interactive"]["action"]["sections"][0]["rows"]
        assert sent[2]["interactive"]["type"] == "list" and [r["id"] for r in rows] == ["r1", "r2"]
        tpl = sent[3]["template"]
        assert tpl["name"] == "price_alert" and tpl["language"] == {"code": "hi"}
        assert tpl["components"][0]["parameters"] == [{"type": "text", "text": "TCS"},
                                                      {"type": "text", "text": "₹4,000.00"}]
        assert tpl["components"][1] == {"type": "button", "sub_type": "QUICK_REPLY", "index": 0,   # pywa's
                                        "parameters": [{"type": "payload", "payload": "alert:ok"}]}  # send_template
        uploads = [r for r in graph.requests if r.path.endswith("/media")]
        assert uploads and uploads[0].form["file"]["bytes"] == b'{"v":1}'
        assert sent[4]["type"] == "document" and sent[4]["document"]["filename"] == "R-1.json"
        assert sent[4]["document"]["id"].startswith("media")
        logged = await audit.outbound("919800000001")
        assert [r["wamid"] for r in logged] == ids
    finally:
        await close_client(client)
        await graph.stop()


async def test_a_graph_error_is_logged_and_the_next_reply_still_goes(db):
    graph = await FakeGraphAPI().start()
    try:
        await create_schema(db)
        graph.fail_for["919800000009"] = (131047, "Re-engagement message")
        client = build_client(WhatsAppConfig(token="EAAtoken", phone_number_id=p.PHONE_NUMBER_ID, graph_url=graph.url))
        messenger = WhatsAppMessenger(client, audit=SqlAuditLog(db))
        blocked = User(key="919800000009", phone="919800000009", bsuid=None, name=None, tier=Tier.LITE,
                       language=None, created_at=datetime.now(timezone.utc))
        assert await messenger.push(blocked, [Text("a"), Text("b")]) == []
        assert len(graph.messages) == 2, "both sends were attempted"
    finally:
        await close_client(client)
        await graph.stop()


async def test_throughput_errors_are_retried_then_succeed(db):
    graph = await FakeGraphAPI().start()
    try:
        await create_schema(db)
        client = build_client(WhatsAppConfig(token="EAAtoken", phone_number_id=p.PHONE_NUMBER_ID, graph_url=graph.url))
        messenger = WhatsAppMessenger(client, audit=SqlAuditLog(db), backoff_s=0.01)
        graph.fail_for["919800000008"] = (130429, "Rate limit hit")
        user = User(key="919800000008", phone="919800000008", bsuid=None, name=None, tier=Tier.LITE,
                    language=None, created_at=datetime.now(timezone.utc))

        async def recover():
            while len(graph.messages) < 1:
                await asyncio.sleep(0.001)
            graph.fail_for.clear()

        import asyncio
        healer = asyncio.create_task(recover())
        ids = await messenger.push(user, [Text("hello")])
        await healer
        assert len(ids) == 1 and len(graph.messages) >= 2, "the first attempt failed and a retry succeeded"
    finally:
        await close_client(client)
        await graph.stop()


async def test_an_unreachable_graph_api_is_a_transient_failure_and_a_5xx_is_meta_s_error():
    """The JSON fast path under pywa keeps httpx's failure types: a refused connection is an
    ``httpx.TransportError`` (retried as transient), a 5xx is pywa's ``WhatsAppError`` with Meta's code."""
    import httpx
    from pywa_async.errors import WhatsAppError

    from bot.whatsapp.sender import TRANSIENT, retry_class

    client = build_client(WhatsAppConfig(token="EAAtoken", phone_number_id=p.PHONE_NUMBER_ID,
                                         graph_url="http://127.0.0.1:9"))
    try:
        with pytest.raises(httpx.TransportError) as refused:
            await client.send_message(to="919800000001", text="hello")
        assert retry_class(refused.value) == TRANSIENT
    finally:
        await close_client(client)
    graph = await FakeGraphAPI().start()
    client = build_client(WhatsAppConfig(token="EAAtoken", phone_number_id=p.PHONE_NUMBER_ID, graph_url=graph.url))
    try:
        graph.fail_for["919800000002"] = (131000, "Something went wrong")
        with pytest.raises(WhatsAppError) as failed:
            await client.send_message(to="919800000002", text="hello")
        assert failed.value.code == 131000 and retry_class(failed.value) == TRANSIENT
    finally:
        await close_client(client)
        await graph.stop()
