"""Upgrade-nudge campaigns, the pure part: definitions, segment rules, arm assignment, send policy and the
funnel's statistics. I/O (the database, the send queue, the Graph API, reports) lives in ``bot/campaigns/``."""
