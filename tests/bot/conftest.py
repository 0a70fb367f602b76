"""A real webhook server in-process, wired to the real pipeline, sending through the real pywa client to a
fake Graph API on 127.0.0.1."""

from __future__ import annotations

import contextlib

from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Runtime
from bot.roles import build_roles
from bot.webhook import create_web_app
from bot.whatsapp.client import build_client, close_client
from config.settings import load_settings
from tests.support.graph_api import FakeGraphAPI
from tests.support.payloads import APP_SECRET, PHONE_NUMBER_ID


@dataclass
class WebhookEnv:
    http: TestClient
    graph: FakeGraphAPI
    runtime: Runtime
    roles: object

    async def settle(self) -> None:
        """Wait until every message behind the last POSTs has been run and its replies sent."""
        await self.roles.settle(timeout=30)


@contextlib.asynccontextmanager
async def webhook_env(tmp_path: Path, clock, graph):
    """The webhook app with the embedded roles behind it, in front of ``graph`` (a started fake Graph API)."""
    settings = load_settings({
        "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": "verify-me", "WHATSAPP_TOKEN": "EAAtoken",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_GRAPH_URL": graph.url,
        "WHATSAPP_API_VERSION": "22.0", "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
        "GRIDWORKS_STATE_DIR": str(tmp_path / "state"),
    })
    client = build_client(settings.whatsapp)
    roles = await build_roles(settings, client=client, clock=clock)
    app = create_web_app(settings=settings, client=client, intake=roles.intake, db=roles.runtime.db, roles=roles)
    http = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    try:
        yield WebhookEnv(http=http, graph=graph, runtime=roles.runtime, roles=roles)
    finally:
        await http.close()          # stops the roles (and closes the runtime) with the app
        await close_client(client)
        await graph.stop()


@pytest.fixture
async def webhook(tmp_path: Path, clock):
    async with webhook_env(tmp_path, clock, await FakeGraphAPI().start()) as env:
        yield env
