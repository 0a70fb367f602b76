"""Advice requests — a tip, a target, "is X good", "which share gives profit" — in any language get one and the
same answer: GridWorks explains, it never recommends (only SEBI-registered advisers may), with pointers to the
lessons that help people judge for themselves. The request is recognised before routing
(``handlers/reading.py``), so no model guess can turn it into a quote, a lesson or "I didn't understand"."""

from __future__ import annotations

from handlers.context import TurnContext
from handlers.reading import ADVICE
from handlers.replies import ListReply, ListRow
from handlers.router import Router

router = Router("advice")
#: The lessons offered instead of a tip, most useful first.
POINTERS: tuple[str, ...] = ("start_investing", "diversification", "pe_ratio", "sebi")


@router.on_intent(ADVICE)
async def no_advice(ctx: TurnContext):
    rows = tuple(ListRow(id=f"learn:{topic}", title=ctx.t(f"education.topic.{topic}.title")) for topic in POINTERS)
    return ListReply(body=ctx.t("education.no_tips"), button=ctx.t("education.button"), rows=rows,
                     section_title=ctx.t("education.section"))
