"""The middleware chain, one concern per module. Each is ``async (turn, call_next) -> TurnResult``.

Middlewares import only the core (turn, session, replies, ports, conversation, messages, users, context,
security, router); a feature rule a step applies is passed into its constructor by the composition root
(``handlers/routes.py``, ``handlers/dispatcher.py``), and no feature imports a middleware."""
