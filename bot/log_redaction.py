"""What a log line may carry: a field allow-list, patterns as a second net, and exceptions without messages.

Digit patterns alone cannot keep personal data out of logs (a name, a message text or a PIN has no shape), so
the rule is an allow-list by field name:

- ``SAFE_IDS``: values the system generated (correlation ids, order and stream ids, counts, partitions, ...):
  logged as they are.
- ``SAFE_WORDS``: short words the code chose (event names, error type names, reasons, routes): logged, but
  still run through the patterns below in case a caller put something else there.
- ``HASHED``: who a line is about (phone, BSUID, user key, message id -- a WhatsApp message id encodes the
  phone number): a keyed hash, equal for equal values within a process, so lines about one user still
  correlate while the value itself cannot be recovered (a plain hash of a phone number can be brute-forced).
- everything else is personal until shown otherwise: strings and large numbers become a keyed hash; names,
  texts, bodies, PINs and profiles are dropped outright. Small numbers (counts) and booleans stay.

An exception is rendered as its type and frames only: its message (which may quote a phone number, a name or
a message) is withheld, and a SQLAlchemy error shows its statement and the driver's error code, never its
bound parameters.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import traceback
from typing import Any

SAFE_IDS = frozenset({
    "timestamp", "level", "logger", "correlation_id", "order_id", "trade_id", "receipt_id", "leaf_index",
    "entry", "entry_id", "epoch", "partition", "partitions", "attempt", "attempts", "count", "rows", "events",
    "accounts", "working_orders", "examples", "suppressed", "ms", "delay_s", "late_s", "timeout_s", "seconds",
    "durable", "journal", "failed", "retryable", "code", "status", "status_code", "http_status", "confidence",
    "workers", "lane", "size", "batch", "pending", "backlog", "port",
})
SAFE_WORDS = frozenset({
    "event", "error", "error_type", "reason", "kind", "route", "intent", "lang", "tier", "role", "method",
    "where", "task", "prefix", "rate_limit", "source", "state", "action", "stream", "group", "phase",
    "command", "host",
})
HASHED = frozenset({
    "user", "user_key", "user_id", "phone", "wa_id", "from", "to", "recipient", "bsuid", "sender", "account",
    "account_id", "message_id", "wamid", "context_id", "key",
})
DROPPED = frozenset({
    "name", "text", "body", "pin", "profile", "caption", "payload", "entities", "message", "reply", "replies",
    "exception", "exc", "stack", "stack_info", "params", "parameters", "sql",
})
#: Keys ending so hold numbers by convention (``rows_count``, ``wait_ms``): numeric values pass.
NUMERIC_SUFFIXES = ("_count", "_ms", "_s", "_seconds", "_bytes", "_total", "_size", "_index", "_n")
REDACTED = "[redacted]"
#: Numbers below this are counts, not identifiers: a PIN has 4+ digits, a phone number 9+.
SMALL_NUMBER = 1000

_KEY = [secrets.token_bytes(32)]


def set_hash_key(key: bytes | None) -> None:
    """Hash with ``key`` (the same on every process of a deployment makes hashes comparable across them);
    ``None`` keeps a random per-process key."""
    _KEY[0] = key if key else secrets.token_bytes(32)


def hashed(value: Any) -> str:
    digest = hmac.new(_KEY[0], str(value).encode("utf-8", "replace"), hashlib.sha256).hexdigest()
    return "h:" + digest[:12]


# -- patterns: the second net under the allow-list ----------------------------------------------------------

_BSUID = re.compile(r"(?<![0-9A-Za-z])[A-Z]{2}\.(?=[0-9A-Za-z]*\d)[0-9A-Za-z]{6,}(?![0-9A-Za-z])")
# A phone number however it is written: "+91 98660 00010", "(+91) 98660-00010", "919866000010", "098660.00010".
_PHONE = re.compile(r"(?<![0-9A-Za-z_])[+(]*\d[\d\s().+-]{6,}\d(?![0-9A-Za-z_])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_QUERY = re.compile(r"\?[^\s\"'<>]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    return "[phone]" if sum(c.isdigit() for c in found) >= 9 else found


def mask(value: str) -> str:
    """Mask phone numbers (any formatting), BSUIDs and e-mail addresses inside free text."""
    value = _BSUID.sub("[bsuid]", value)
    value = _EMAIL.sub("[email]", value)
    return _PHONE.sub(_phone, value)


def mask_foreign(value: str) -> str:
    """A line another library formatted itself (an access log, say): also drop query strings and IPs."""
    return _IPV4.sub("[ip]", _QUERY.sub("?[query]", mask(value)))


# -- the allow-list ------------------------------------------------------------------------------------------

def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float))


def _small(value: Any) -> bool:
    return isinstance(value, bool) or value is None or (
        isinstance(value, (int, float)) and abs(value) < SMALL_NUMBER)


def field_value(key: str, value: Any) -> Any:
    """The loggable form of ``value`` under ``key``."""
    if isinstance(value, BaseException):
        return type(value).__name__
    if key in DROPPED:
        return None if value is None else REDACTED
    if key in HASHED:
        return None if value is None else hashed(value)
    if key in SAFE_IDS:
        if _scalar(value) or isinstance(value, str):
            return value
        if isinstance(value, (list, tuple)) and all(_scalar(v) or isinstance(v, str) for v in value):
            return list(value)
        return mask(str(value))
    if key in SAFE_WORDS:
        return mask(value) if isinstance(value, str) else field_value("", value)
    if key.endswith(NUMERIC_SUFFIXES) and _scalar(value):
        return value
    if key.endswith("_hash") and isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F:h]{4,80}", value):
        return value
    if _small(value):
        return value
    if isinstance(value, (str, int, float)):
        return hashed(value)
    return REDACTED


def redact_fields(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event.items()):
        if key in ("exc_info", "stack_info") or key.startswith("_"):
            continue
        event[key] = field_value(key, value)
    return event


# -- exceptions ----------------------------------------------------------------------------------------------

#: Libraries whose exception messages are about the infrastructure, never about a user (Redis answers such as
#: "NOSCRIPT No matching script" or "BUSYGROUP ..."): kept, still masked, as the one clue to a failure.
SPOKEN_MODULES = ("redis.",)
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def describe(exc: BaseException) -> str:
    """One exception as ``Type: what may be said about it`` -- never its message."""
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    statement = getattr(exc, "statement", None)
    if statement is not None and hasattr(exc, "orig"):        # sqlalchemy.exc.StatementError and children
        orig = getattr(exc, "orig", None)
        code = next((str(getattr(orig, a)) for a in ("sqlstate", "pgcode", "sqlite_errorname")
                     if getattr(orig, a, None)), None)
        bits = [f"[SQL: {mask(' '.join(str(statement).split()))[:400]}]"]
        if orig is not None:
            bits.append(f"driver={type(orig).__qualname__}")
        if code:
            bits.append(f"code={code}")
        if getattr(exc, "code", None):
            bits.append(f"sqlalchemy_code={exc.code}")    # type: ignore[attr-defined]
        return f"{name}: " + " ".join(bits) + " (parameters withheld)"
    text = str(exc)
    if type(exc).__module__.startswith(SPOKEN_MODULES):
        return f"{name}: {mask(text)[:300]}"
    errno = f" errno={exc.errno}" if isinstance(exc, OSError) and exc.errno is not None else ""
    return f"{name}: [message withheld {hashed(text)}, {len(text)} chars]{errno}" if text else name + errno


def render_exception(exc: BaseException, *, max_chain: int = 5, max_frames: int = 40) -> str:
    """A traceback (frames and source lines are code, so they stay) with every message withheld."""
    chain: list[tuple[BaseException, str]] = []
    current: BaseException | None = exc
    link = ""
    seen: set[int] = set()
    while current is not None and id(current) not in seen and len(chain) < max_chain:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    parts: list[str] = []
    for item, joint in reversed(chain):
        frames = traceback.extract_tb(item.__traceback__)[-max_frames:]
        if frames:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_list(frames))
        parts.append(describe(item) + "\n")
        parts.append(joint)
    return mask("".join(parts).rstrip("\n"))
