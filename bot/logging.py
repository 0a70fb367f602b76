"""structlog configuration: JSON lines to stderr, with phone numbers and personal data redacted.

Redaction is a processor, not a convention: named personal fields are masked, and any long digit run in
any string value (a phone number inside a message, say) is masked too, so a careless log call cannot leak.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

PERSONAL_KEYS = frozenset({"phone", "wa_id", "from", "to", "user", "user_key", "user_id", "bsuid", "name",
                           "text", "body", "pin", "recipient", "profile"})
# A run of 9+ digits standing alone (not inside a hex id such as a correlation id).
_DIGITS = re.compile(r"(?<![0-9A-Za-z])(\+?\d{2})\d{5,}(\d{2})(?![0-9A-Za-z])")
_BSUID = re.compile(r"\b([A-Z]{2})\.\d{6,}\b")


def mask(value: str) -> str:
    value = _DIGITS.sub(lambda m: f"{m.group(1)}…{m.group(2)}", value)
    return _BSUID.sub(lambda m: f"{m.group(1)}.…", value)


def redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event.items()):
        if key in PERSONAL_KEYS and value is not None:
            event[key] = "[redacted]" if key in ("text", "body", "pin", "name", "profile") else mask(str(value))
        elif isinstance(value, str):
            event[key] = mask(value)
    return event


def configure_logging(level: str = "INFO", *, stream=None) -> None:
    logging.basicConfig(level=level, stream=stream or sys.stderr, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,                                  # after the traceback is rendered: it is a string too
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # Look stderr up at each logger creation: test runners swap it, and a closed stream must not crash.
        logger_factory=(lambda *_: structlog.PrintLogger(stream)) if stream else (
            lambda *_: structlog.PrintLogger(sys.stderr)),
        cache_logger_on_first_use=False,
    )
