"""The order dialogue, one package: buy/sell → the form's missing slots → PIN once a trading day → a card bound
to the exact order → Confirm → the engine. ``states`` declares the conversation; ``dialogue`` is its entry and
slot questions, ``pin`` and ``confirm`` the gate and the card's answers, ``change`` a typed change to an open
order, ``execute`` what happens once confirmed."""

from handlers.trading.dialogue import router

__all__ = ["router"]
