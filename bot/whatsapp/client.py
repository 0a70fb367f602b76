"""Build the pywa_async client: no built-in server, explicit identifier priority, configurable Graph URL.

pywa has no base-URL option (it sets ``https://graph.facebook.com/v<ver>`` on the session), so the httpx
client we hand it carries a transport that rewrites the scheme, host and port to ``WHATSAPP_GRAPH_URL``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from pywa_async import WhatsApp
from pywa_async.utils import UserIdentifier

from config.settings import DEFAULT_GRAPH_URL, WhatsAppConfig

#: Address users by phone ("to") when WhatsApp gave one, else by business-scoped user id ("recipient").
IDENTIFIER_PRIORITY = (UserIdentifier.WA_ID, UserIdentifier.BSUID, UserIdentifier.PARENT_BSUID)


class GraphRewriteTransport(httpx.AsyncBaseTransport):
    """Send every request to ``base_url``'s scheme/host/port, keeping path and query."""

    def __init__(self, base_url: str, *, inner: httpx.AsyncBaseTransport | None = None) -> None:
        parts = urlsplit(base_url)
        self._scheme = parts.scheme
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._inner = inner or httpx.AsyncHTTPTransport(retries=1)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme=self._scheme, host=self._host, port=self._port,
                                            path=self._prefix + request.url.path)
        request.headers["host"] = self._host if self._port is None else f"{self._host}:{self._port}"
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def build_client(config: WhatsAppConfig) -> WhatsApp:
    """A pywa_async client that only sends and validates; our aiohttp app owns the webhook."""
    transport = None
    if config.graph_url.rstrip("/") != DEFAULT_GRAPH_URL:
        transport = GraphRewriteTransport(config.graph_url)
    session = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(10.0, connect=5.0))
    return WhatsApp(
        phone_id=config.phone_number_id or "0",
        token=config.token or "unset",
        session=session,
        app_secret=config.app_secret,
        verify_token=config.verify_token,
        api_version=config.api_version,
        validate_updates=bool(config.app_secret),
        filter_updates=False,
        user_identifier_priority=IDENTIFIER_PRIORITY,
    )
