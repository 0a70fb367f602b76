"""Outermost: any unexpected exception becomes a localized apology plus one structured log line carrying
the correlation id, so support can find it. The dispatch loop never dies."""

from __future__ import annotations

import structlog

from engine.api import EngineUnavailable
from handlers.ports import Superseded
from handlers.replies import Text
from handlers.turn import Next, Turn, TurnResult, TurnStatus

log = structlog.get_logger("gridworks.errors")


class ErrorCapture:
    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        try:
            return await call_next(turn)
        except Superseded:
            raise                # not ours to answer: the partition's new owner runs this turn
        except EngineUnavailable:
            log.warning("engine_unavailable", correlation_id=turn.correlation_id, message_id=turn.message.id)
            busy = turn.services.catalog.render(turn.lang, "core.busy", ref=turn.correlation_id[:8])
            return TurnResult(status=TurnStatus.ERROR, user_key=turn.message.sender.key,
                              correlation_id=turn.correlation_id, replies=(Text(busy),),
                              match=turn.match, lang=turn.lang, user=turn.user)
        except Exception as exc:  # noqa: BLE001 - this is the one place that catches everything
            log.exception("turn_failed", correlation_id=turn.correlation_id, error=type(exc).__name__,
                          message_id=turn.message.id)
            apology = turn.services.catalog.render(turn.lang, "core.error", ref=turn.correlation_id[:8])
            return TurnResult(status=TurnStatus.ERROR, user_key=turn.message.sender.key,
                              correlation_id=turn.correlation_id, replies=(Text(apology),),
                              match=turn.match, lang=turn.lang, user=turn.user)
