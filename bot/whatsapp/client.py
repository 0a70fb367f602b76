"""Build the pywa_async client: no built-in server, explicit identifier priority, configurable Graph URL.

pywa has no base-URL option: it sets ``https://graph.facebook.com/v<ver>`` as the ``base_url`` of the httpx
client we hand it. That client is ours, so once pywa is built we point its ``base_url`` at
``WHATSAPP_GRAPH_URL`` (a local Graph API in development and tests); pywa's API is used unchanged.

The Graph calls were a third of a turn's CPU. Measured against a local Graph API, one send costs 2.3 ms of
CPU through httpx's own transport (httpcore), 0.56 ms with aiohttp under httpx (``httpx-aiohttp``) and
0.17 ms through aiohttp alone. So the client we give pywa is :class:`GraphSession`: httpx's client API,
whose JSON requests (every send, read receipt and typing indicator) go straight to aiohttp; anything else
(media uploads, template management) takes the full httpx path over the aiohttp transport.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from pywa_async import WhatsApp
from pywa_async.utils import UserIdentifier

from config.settings import DEFAULT_GRAPH_URL, WhatsAppConfig

#: Address users by phone ("to") when WhatsApp gave one, else by business-scoped user id ("recipient").
IDENTIFIER_PRIORITY = (UserIdentifier.WA_ID, UserIdentifier.BSUID, UserIdentifier.PARENT_BSUID)
#: Connections kept open to the Graph API: enough for Meta's 1,000 messages/s at ~50 ms per call.
GRAPH_CONNECTIONS = 64


def graph_transport() -> httpx.AsyncBaseTransport:
    """aiohttp under httpx: keep-alive connections, a fraction of httpcore's CPU per request."""
    return AiohttpTransport(limits=httpx.Limits(max_connections=GRAPH_CONNECTIONS,
                                                max_keepalive_connections=GRAPH_CONNECTIONS))


class GraphSession(httpx.AsyncClient):
    """The httpx client pywa is given. A plain JSON request (``json=`` and nothing else but headers) is sent
    by aiohttp on kept-alive connections and answered as an ``httpx.Response``; transport failures are
    raised as httpx's, so callers classify them as they always did. Everything else is httpx's own path."""

    _aio: aiohttp.ClientSession | None = None

    async def request(self, method: str, url: Any, *, json: Any = None, **kwargs: Any) -> httpx.Response:
        if json is None or set(kwargs) - {"headers"} or not isinstance(url, str):
            return await super().request(method, url, json=json, **kwargs)
        headers = dict(self.headers)
        headers.update(kwargs.get("headers") or {})
        headers["content-type"] = "application/json"
        body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        full = url if url.startswith(("http://", "https://")) else f"{self.base_url}{url.lstrip('/')}"
        try:
            async with self._session().request(method, full, data=body, headers=headers) as response:
                content = await response.read()
                status = response.status
                # A success needs only its body and content type; a failure keeps every header (diagnosis).
                kept = response.raw_headers if status >= 400 else \
                    [(b"content-type", response.headers.get("content-type", "application/json").encode())]
                answer = httpx.Response(status, headers=kept, content=content,
                                        request=self._request_of(method, full))
                if status < 400:
                    # JSON is UTF-8 (RFC 8259). pywa decodes every answer's text for a debug line even when
                    # debug is off; a known encoding spares httpx parsing the content type with the email
                    # package on each send (1% of a cluster serve's CPU).
                    answer.encoding = "utf-8"
                return answer
        except asyncio.TimeoutError as exc:
            raise httpx.ReadTimeout(f"Graph API timed out: {type(exc).__name__}") from exc
        except aiohttp.ClientConnectionError as exc:
            raise httpx.ConnectError(f"Graph API unreachable: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"Graph API request failed: {type(exc).__name__}") from exc

    def _request_of(self, method: str, url: str) -> httpx.Request:
        """The ``httpx.Request`` a response names (only read to describe an error): one per endpoint, built
        once — parsing the URL on every send cost as much as the send's own JSON."""
        cache = self.__dict__.setdefault("_requests", {})
        request = cache.get((method, url))
        if request is None:
            if len(cache) >= 64:           # a handful of endpoints in practice; never grows without bound
                cache.clear()
            request = cache[(method, url)] = httpx.Request(method, url)
        return request

    def _session(self) -> aiohttp.ClientSession:
        if self._aio is None or self._aio.closed:
            timeout = self.timeout
            self._aio = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=GRAPH_CONNECTIONS),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout.connect, sock_read=timeout.read),
                auto_decompress=True)
        return self._aio

    async def aclose(self) -> None:
        if self._aio is not None:
            await self._aio.close()
            self._aio = None
        await super().aclose()


def build_client(config: WhatsAppConfig) -> WhatsApp:
    """A pywa_async client that only sends and validates; our aiohttp app owns the webhook.
    Close its connections with :func:`close_client`."""
    session = GraphSession(transport=graph_transport(), timeout=httpx.Timeout(10.0, connect=5.0))
    client = WhatsApp(
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
    if config.graph_url.rstrip("/") != DEFAULT_GRAPH_URL:
        session.base_url = f"{config.graph_url.rstrip('/')}/v{config.api_version}"
    return client


async def close_client(client: WhatsApp) -> None:
    """Close the client's HTTP connections (pywa does not own the session we gave it)."""
    session = getattr(getattr(client, "api", None), "_session", None)
    if isinstance(session, httpx.AsyncClient):
        await session.aclose()
