"""OnboardingGate: nobody trades, or is even answered, before choosing a language and consenting to terms.

A user who is not onboarded yet has their turn taken by the onboarding conversation (``handlers/onboarding.py``,
passed in by the composition root); everybody else passes straight through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.turn import Next, Turn, TurnResult


class OnboardingGate:
    def __init__(self, *, onboarded: Callable[[Turn], bool],
                 converse: Callable[[Turn, Next], Awaitable[TurnResult]]) -> None:
        self._onboarded = onboarded
        self._converse = converse

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        if self._onboarded(turn):
            return await call_next(turn)
        return await self._converse(turn, call_next)
