"""The middleware chain, one concern per module. Each is ``async (turn, call_next) -> TurnResult``."""
