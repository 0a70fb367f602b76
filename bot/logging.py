"""structlog configuration: JSON lines to stderr that cannot leak personal data, at a bounded rate.

Redaction is a processor, not a convention (the policy is in ``bot/log_redaction.py``): only allow-listed
fields are logged as they are, people are logged as keyed hashes, texts are dropped, exceptions keep their
type and frames but not their messages, SQL errors lose their parameters. Lines from other libraries (aiohttp,
pywa, asyncio) go through the same processors, so a library that logs a request or a signature cannot leak
either.

Rejected requests can arrive by the thousand (a scanner, a misconfigured sender): a line that carries
``rate_limit=<reason>`` is emitted at most ``burst`` times per window for its (event, reason); the next line
emitted says how many were suppressed. Warnings from other libraries are limited the same way per message
template (pywa logs every bad webhook signature). Usage, e.g. in the webhook::

    log.warning("webhook_rejected", reason="bad_signature", rate_limit="bad_signature")
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TextIO

import structlog

from bot.log_redaction import mask, mask_foreign, redact_fields, render_exception, set_hash_key

LOG_WINDOW_S = 10.0
LOG_BURST = 5


class LogRateLimiter:
    """At most ``burst`` lines per key in each ``window`` seconds. :meth:`admit` answers ``None`` (drop the
    line) or how many lines of that key were dropped since the last one let through (say so on the line).

    Keys may come from the outside world, so at most ``max_keys`` are tracked (the oldest is forgotten, its
    count kept in ``suppressed_total``)."""

    def __init__(self, *, burst: int = LOG_BURST, window: float = LOG_WINDOW_S, max_keys: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.window, self.max_keys, self.clock = burst, window, max_keys, clock
        self.suppressed_total = 0
        self._keys: OrderedDict[Hashable, list[float]] = OrderedDict()  # key -> [window start, sent, dropped]

    def admit(self, key: Hashable) -> int | None:
        now = self.clock()
        state = self._keys.get(key)
        if state is None:
            if len(self._keys) >= self.max_keys:
                self._keys.popitem(last=False)
            state = self._keys[key] = [now, 0, 0]
        self._keys.move_to_end(key)
        if now - state[0] >= self.window:
            state[0], state[1] = now, 0
        if state[1] >= self.burst:
            state[2] += 1
            self.suppressed_total += 1
            return None
        state[1] += 1
        dropped, state[2] = int(state[2]), 0
        return dropped

    def processor(self, _logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        """structlog processor: limit lines that carry ``rate_limit``."""
        reason = event.get("rate_limit")
        if reason is None:
            return event
        dropped = self.admit(("structlog", str(event.get("event")), str(reason)))
        if dropped is None:
            raise structlog.DropEvent
        if dropped:
            event["suppressed"] = dropped
        return event


#: The process's limiter (configure_logging installs it; tests may make their own).
rate_limiter = LogRateLimiter()


def redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the field allow-list (see ``bot.log_redaction``)."""
    return redact_fields(event)


def render_exceptions(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor, instead of ``format_exc_info``: the traceback without messages or parameters."""
    exc_info = event.pop("exc_info", None)
    event.pop("stack_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    exc = exc_info if isinstance(exc_info, BaseException) else (
        exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) == 3 else None)
    if exc is not None:
        event["exception"] = render_exception(exc)
    return event


def _processors(limiter: LogRateLimiter) -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        limiter.processor,
        redact,
        render_exceptions,
    ]


def level_number(level: str | int | None) -> int:
    """``level`` as a stdlib number; None reads ``GRIDWORKS_LOG_LEVEL`` (default WARNING). An unknown name
    falls back to INFO rather than failing a process over its log level (settings validate it earlier)."""
    if level is None:
        level = os.environ.get("GRIDWORKS_LOG_LEVEL") or "WARNING"
    if isinstance(level, int):
        return level
    numeric = logging.getLevelName(level.strip().upper())
    return numeric if isinstance(numeric, int) else logging.INFO


class StdlibBridge(logging.Handler):
    """Lines of other libraries (stdlib ``logging``) through the same redaction, as JSON on the same stream.

    A record's message template is logged, not its arguments (they are the values: a signature, a path, a
    request); a pre-formatted message is masked harder (phones, BSUIDs, query strings, IP addresses). Warnings
    and failed requests are rate limited per template."""

    def __init__(self, stream: TextIO | None, level: int, limiter: LogRateLimiter) -> None:
        super().__init__(level)
        self._stream = stream
        self._limiter = limiter
        self._render = structlog.processors.JSONRenderer(ensure_ascii=False)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self._line(record)
            if line is None:
                return
            stream = self._stream or sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - a log line must never break its caller
            pass               # (not handleError: it would print the record, arguments and all, to stderr)

    def _line(self, record: logging.LogRecord) -> str | None:
        if isinstance(record.msg, str):
            template = record.msg if record.args else mask_foreign(record.msg)
        else:
            template = f"<{type(record.msg).__name__}>"
        status = getattr(record, "response_status", None)
        key = None
        if isinstance(status, int) and status >= 400:
            key = ("stdlib", record.name, status)
        elif record.levelno >= logging.WARNING:
            key = ("stdlib", record.name, template)
        event: dict[str, Any] = {"event": mask(template), "logger": record.name,
                                 "level": record.levelname.lower()}
        if key is not None:
            dropped = self._limiter.admit(key)
            if dropped is None:
                return None
            if dropped:
                event["suppressed"] = dropped
        event = structlog.processors.TimeStamper(fmt="iso", utc=True)(None, "", event)
        if record.exc_info and record.exc_info[1] is not None:
            event["exception"] = render_exception(record.exc_info[1])
        return self._render(None, "", event)


def configure_logging(level: str | int | None = "INFO", *, stream: TextIO | None = None,
                      hash_key: bytes | None = None, limiter: LogRateLimiter | None = None) -> None:
    """Configure structlog and the stdlib root logger (every library's logger, aiohttp's access log included)
    at one level. ``level`` None: ``GRIDWORKS_LOG_LEVEL`` when set, else WARNING (a short command). ``hash_key``:
    the key of the hashes people are logged as (give every process of a deployment the same secret to compare
    hashes across them; default: random per process). ``limiter``: the rate limiter for rejected-request lines
    (default: the process's). Calling it again replaces the previous configuration."""
    set_hash_key(hash_key)
    limiter = limiter or rate_limiter
    numeric = level_number(level)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StdlibBridge)]:
        root.removeHandler(handler)
    root.addHandler(StdlibBridge(stream, numeric, limiter))
    root.setLevel(numeric)
    structlog.configure(
        processors=[*_processors(limiter), structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Look stderr up at each logger creation: test runners swap it, and a closed stream must not crash.
        logger_factory=(lambda *_: structlog.PrintLogger(stream)) if stream else (
            lambda *_: structlog.PrintLogger(sys.stderr)),
        cache_logger_on_first_use=False,
    )


@functools.cache
def _access_logger_class():
    from aiohttp.abc import AbstractAccessLogger

    class AccessLogger(AbstractAccessLogger):
        """aiohttp's access log as structlog lines: method, route *template* (never the path or query a
        caller chose: a verify token, a phone number in a URL), status, duration and size; no client address.
        Failed requests are rate limited per (route, status) like other rejected-request lines."""

        _log = structlog.get_logger("gridworks.access")

        @property
        def enabled(self) -> bool:
            return logging.getLogger("gridworks.access").isEnabledFor(logging.INFO)

        def log(self, request: Any, response: Any, time: float) -> None:
            info = getattr(request, "match_info", None)
            route = getattr(getattr(info, "route", None), "resource", None)
            template = getattr(route, "canonical", None) or "unmatched"
            status = int(getattr(response, "status", 0))
            fields: dict[str, Any] = {"method": request.method, "route": template, "status": status,
                                      "ms": round(time * 1000, 1),
                                      "size_bytes": int(getattr(response, "body_length", 0) or 0)}
            if status >= 400:
                fields["rate_limit"] = f"{template}:{status}"
            self._log.info("http_access", **fields)

    return AccessLogger


def access_logger():
    """The aiohttp ``access_log_class`` for the web role (``web.AppRunner(app, access_log_class=...)``)."""
    return _access_logger_class()


__all__ = ["LogRateLimiter", "access_logger", "configure_logging", "level_number", "mask", "rate_limiter",
           "redact", "render_exceptions"]


def deployment_hash_key(secrets) -> bytes | None:
    """The log-hash key every process of a deployment shares, derived from its configured secrets (so one
    user hashes alike in the web, worker and engine logs); None (random per process) in development."""
    import hashlib

    material = (secrets.data_keys[0] if secrets.data_keys else None) or secrets.signing_key
    if not material:
        return None
    return hashlib.sha256(b"gridworks.log-hash\0" + material.encode()).digest()
