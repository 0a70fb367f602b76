"""What campaign commands need, opened from settings: the database, the stores, texts, clock and a sender.

No engine and no intent model: a campaign reads the engine's tables (facts) but never writes them, so it runs
beside a live server or cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from bot.campaigns.store import CampaignStore
from campaigns.definition import Campaign, load
from campaigns.policy import Policy
from config.product import ProductConfig
from config.settings import Settings


@dataclass
class CampaignEnv:
    settings: Settings
    db: Any
    store: CampaignStore
    users: Any
    catalog: Any
    clock: Any
    config: ProductConfig
    closers: list[Callable[[], Any]] = field(default_factory=list)

    @property
    def base_policy(self) -> Policy:
        return Policy.from_config(self.config.campaigns.policy)

    def load(self, path: str) -> Campaign:
        return load(path, base_policy=self.base_policy)

    async def stored(self, campaign_id: str) -> Campaign | None:
        from campaigns.definition import parse

        raw = await self.store.definition(campaign_id)
        return parse(raw, base_policy=self.base_policy) if raw is not None else None

    def sender(self):
        """(send function, the number's shared rate limiter or None): pywa against ``WHATSAPP_GRAPH_URL``."""
        from bot.whatsapp import client as wa_client
        from bot.whatsapp.sender import reply_sender

        client = wa_client.build_client(self.settings.whatsapp)
        close = getattr(wa_client, "close_client", None)
        if close is not None:
            self.closers.append(lambda: close(client))
        limiter = None
        if self.settings.storage.redis_url:
            from bot.cluster.redis_client import connect
            from bot.cluster.send_rate import RedisRateLimiter

            redis = connect(self.settings.storage.redis_url)
            self.closers.append(redis.aclose)
            limiter = RedisRateLimiter(redis, rate=self.settings.cluster.send_rate, prefix=self.settings.cluster.prefix)
        return reply_sender(client), limiter

    async def close(self) -> None:
        from bot.app import close_all

        await close_all(self.closers)


async def open_env(settings: Settings) -> CampaignEnv:
    from bot.app import make_clock
    from bot.stores.crypto import DataCipher
    from bot.stores.sql import SqlUserRepository
    from engine.db import make_engine
    from locales.catalog import load_catalog

    db = make_engine(settings.storage.database_url)
    store = CampaignStore(db, privacy_words=settings.product.campaigns.facts.privacy_words)
    env = CampaignEnv(settings=settings, db=db, store=store,
                      users=SqlUserRepository(db, cipher=DataCipher.from_secrets(settings.secrets)),
                      catalog=load_catalog(), clock=make_clock(settings, simulated=False), config=settings.product,
                      closers=[db.dispose])
    try:
        await store.create_schema()
    except BaseException:
        await env.close()
        raise
    return env
