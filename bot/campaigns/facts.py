"""The segment facts as SQL over the tables the system already has: users, the engine's trades and holdings,
and the message audit log. One query selects an audience; nothing is loaded per user.

A LITE user's profile is plain JSON (PRO profiles are sealed, see ``bot/stores/sql.py``): profile flags are
read only from rows whose profile is JSON (``LIKE '{%'``); a sealed profile counts as "flag not set", which
only matters for PRO users, whom upgrade segments exclude anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from sqlalchemy import Boolean, and_, case, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Select

from bot.stores.sql import messages, users
from campaigns.policy import IST
from campaigns.segment import Facts
from engine.tables import holdings, trades


def profile_flag(name: str, dialect: str):
    """True when the (plain JSON) profile has ``name`` set to true."""
    profile = users.c.profile
    if dialect == "postgresql":
        value = cast(profile, JSONB)[name].astext == "true"
    else:
        value = func.json_extract(profile, f"$.{name}") == 1
    return case((and_(profile.like("{%"), value), literal(True)), else_=literal(False))


def month_start(now: datetime):
    local = now.astimezone(IST)
    return local.date().replace(day=1)


def audience_query(now: datetime, dialect: str, *, privacy_words: Sequence[str] = ()) -> tuple[Select, Facts]:
    """``SELECT users.key, users.language FROM users LEFT JOIN (facts…)`` and the facts to filter it by."""
    traded = (select(trades.c.account, func.count().label("n"))
              .where(trades.c.trade_day >= month_start(now)).group_by(trades.c.account).subquery("f_trades"))
    held = (select(holdings.c.account, func.sum(holdings.c.cost).label("cost"))
            .where(holdings.c.quantity > 0).group_by(holdings.c.account).subquery("f_held"))
    seen = (select(messages.c.user_key, func.max(messages.c.created_at).label("last"))
            .where(messages.c.direction == "in").group_by(messages.c.user_key).subquery("f_seen"))
    words = [w.lower() for w in privacy_words if w]
    private = (select(messages.c.user_key).where(messages.c.direction == "in",
                                                 or_(*(func.lower(messages.c.body).contains(w) for w in words))
                                                 if words else literal(False))
               .group_by(messages.c.user_key).subquery("f_priv"))
    facts = Facts(tier=users.c.tier, language=users.c.language,
                  trades_this_month=func.coalesce(traded.c.n, 0),
                  portfolio_paise=func.coalesce(held.c.cost, 0),
                  trial_used=profile_flag("trial_used", dialect),
                  opted_out=profile_flag("marketing_opt_out", dialect),
                  last_active=seen.c.last,
                  privacy_interest=cast(private.c.user_key.is_not(None), Boolean))
    query = (select(users.c.key, users.c.language)
             .select_from(users.outerjoin(traded, traded.c.account == users.c.key)
                          .outerjoin(held, held.c.account == users.c.key)
                          .outerjoin(seen, seen.c.user_key == users.c.key)
                          .outerjoin(private, private.c.user_key == users.c.key)))
    return query, facts


def cap_window(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
