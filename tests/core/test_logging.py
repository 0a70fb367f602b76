from __future__ import annotations

import io
import json

import structlog

from bot.logging import configure_logging


def test_phone_numbers_and_personal_fields_are_redacted():
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    structlog.get_logger("t").info("turn", phone="919812345678", text="my pin is 1234",
                                   note="user 919812345678 wrote", user_key="IN.13491208655302741918")
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert "919812345678" not in out.getvalue()
    assert "13491208655302741918" not in out.getvalue()
    assert line["text"] == "[redacted]" and "1234" not in out.getvalue()


def test_ids_stay_readable_and_tracebacks_are_redacted():
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    log = structlog.get_logger("t")
    log.info("turn", correlation_id="5c8c11940104408a9658ff0de83235ac")
    try:
        raise ValueError("no account for 919812345678")
    except ValueError:
        log.exception("turn_failed")
    first, second = (json.loads(line) for line in out.getvalue().strip().splitlines()[-2:])
    assert first["correlation_id"] == "5c8c11940104408a9658ff0de83235ac"
    assert "ValueError" in second["exception"] and "919812345678" not in second["exception"]
