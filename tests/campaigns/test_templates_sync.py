"""``templates sync`` through pywa's public template API against the fake Graph API; Meta's template-status
webhook, through the real parser and side writer, records the approval."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.bench.graph_sink import GraphSink
from bot.campaigns.store import CampaignStore
from bot.campaigns.templates_sync import sync
from bot.cluster.side import SideWriter, template_item
from bot.whatsapp.client import build_client
from bot.whatsapp.parse import parse_batch
from bot.whatsapp.templates import TEMPLATES, registrations
from config.settings import WhatsAppConfig
from locales.catalog import load_catalog
from tests.support import payloads as p

NOW = datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc)


async def test_sync_creates_every_template_once_and_a_status_webhook_approves_it(db):
    sink = await GraphSink().start()
    try:
        store = CampaignStore(db)
        await store.create_schema()
        client = build_client(WhatsAppConfig(token="EAAt", phone_number_id=p.PHONE_NUMBER_ID, graph_url=sink.url))
        catalog = load_catalog()
        lines = await sync(client, store, catalog, waba_id="4242", now=NOW)
        expected = len(registrations(catalog))
        assert expected == len(TEMPLATES) * 10           # 12 variants on 10 Meta locales (hi-Latn, or -> en)
        assert [x.action for x in lines] == ["created"] * expected and len(sink.templates) == expected
        nudge_ta = next(t for t in sink.templates.values() if t["name"] == "gw_nudge_a" and t["language"] == "ta")
        assert nudge_ta["category"] == "MARKETING"
        body = next(c for c in nudge_ta["components"] if c["type"].upper() == "BODY")
        assert "{{1}}" in body["text"] and body["example"]["body_text"] == [["30"]]
        buttons = next(c for c in nudge_ta["components"] if c["type"].upper() == "BUTTONS")
        assert [b["type"].upper() for b in buttons["buttons"]] == ["QUICK_REPLY"] * 3
        again = await sync(client, store, catalog, waba_id="4242", now=NOW)
        assert {x.action for x in again} == {"unchanged"} and len(sink.templates) == expected
        rows = {(r["name"], r["locale"]): r for r in await store.template_statuses()}
        assert len(rows) == expected and rows[("gw_nudge_a", "ta")]["status"] == "PENDING"

        webhook = {"object": "whatsapp_business_account", "entry": [{"id": "4242", "time": 1795400000, "changes": [
            {"field": "message_template_status_update", "value": {
                "event": "APPROVED", "message_template_id": int(rows[("gw_nudge_a", "ta")]["template_id"]),
                "message_template_name": "gw_nudge_a", "message_template_language": "ta", "reason": "NONE"}}]}]}
        batch = parse_batch(webhook, client)
        assert len(batch.template_statuses) == 1 and not batch.rejected
        await SideWriter(intake=None, db=db, users=None, consumer="t").store(
            [template_item(t) for t in batch.template_statuses])
        rows = {(r["name"], r["locale"]): r for r in await store.template_statuses()}
        assert rows[("gw_nudge_a", "ta")]["status"] == "APPROVED" and rows[("gw_nudge_b", "ta")]["status"] == "PENDING"
    finally:
        await sink.stop()
