"""A campaign in the console channel (``gridworks simulate FILE.yml``): the same runner and queue, with the
Graph call replaced by the console's outbox, so a scripted conversation can receive a nudge and tap it.

Script step: ``- campaign: tests/campaigns/nudge_everyone.toml`` — runs the campaign (its audience is
whoever matches at that moment), and the step's trace shows the nudge this user got, with its buttons.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.campaigns.runner import run
from bot.campaigns.store import CampaignStore
from bot.whatsapp.templates import BY_NAME, TEXT_SOURCE, button_titles, meta_locale
from campaigns.definition import load
from campaigns.policy import Policy
from handlers.replies import Reply, Template


async def campaign_step(channel: Any, user: str, spec: Any, *, at: datetime | None = None) -> dict[str, Any]:
    runtime = channel.runtime
    if at is not None and hasattr(runtime.clock, "set"):
        runtime.clock.set(at)
    path = Path(str(spec.get("file") if isinstance(spec, dict) else spec))
    base = Policy.from_config(runtime.services.product.campaigns.policy)
    campaign = load(path, base_policy=base)
    store: CampaignStore = runtime.services.extras["campaigns"]
    got: dict[str, list[Reply]] = {}
    users = runtime.services.users

    async def console_send(to: str, reply: Reply, **_: Any) -> str:
        target = await users.find(to)
        got.setdefault(target.key if target else to, []).append(reply)
        return f"console.{uuid.uuid4().hex}"

    result = await run(store, campaign, send=console_send, now=runtime.clock.now, catalog=runtime.services.catalog,
                       config=runtime.services.product, users=users)
    catalog = runtime.services.catalog
    replies = []
    for reply in got.get(user, []):
        assert isinstance(reply, Template)
        lang = TEXT_SOURCE[meta_locale(reply.language)]
        titles = button_titles(catalog, BY_NAME[reply.name], lang)
        replies.append({"type": "template", "name": reply.name, "language": meta_locale(reply.language),
                        "text": reply.text, "buttons": [{"id": p, "title": t}
                                                        for p, t in zip(reply.button_payloads, titles)]})
    return {"from": user, "intent": None, "replies": replies, "campaign": {"id": campaign.id, "sent": result.sent,
                                                                             "skipped": result.skipped}}
