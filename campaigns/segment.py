"""Segments: composable rules over facts the system owns, compiled to one SQL boolean expression.

Why SQL: an audience of a million users is selected by the database (``SELECT key FROM users WHERE …``), never
by loading users into Python. The rules only name facts; :class:`Facts` supplies each fact as a column
expression (``bot/campaigns/facts.py`` builds them from the users, trades, holdings and message tables), so
this module stays pure and the same rule runs on SQLite and PostgreSQL.

Rule syntax (a mapping, from a TOML or YAML campaign file)::

    {tier = "LITE"}                       {language = ["hi", "hi-Latn"]}
    {trades_this_month = {min = 11}}      {portfolio_value = {min_rupees = 100000}}
    {trial_used = false}                  {opted_out = false}
    {last_active_days = {max = 30}}       {privacy_interest = true}
    {all = [..]}  {any = [..]}  {not = {..}}  {at_least = 2, of = [..]}
    {trigger = "spec"}                    # the product spec: two of (>10 trades this month, portfolio
                                          # above ₹1 lakh, privacy interest)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from sqlalchemy import and_, case, false, func, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement


class SegmentError(ValueError):
    """A rule the parser cannot read; the message names the rule."""


@dataclass(frozen=True, slots=True)
class Facts:
    """Column expressions, one per fact, correlated to the users table of the outer query."""

    tier: ColumnElement
    language: ColumnElement
    trades_this_month: ColumnElement        # integer
    portfolio_paise: ColumnElement          # integer: cost of holdings (what the user has invested)
    trial_used: ColumnElement               # boolean
    opted_out: ColumnElement                # boolean
    last_active: ColumnElement              # timestamp of the last inbound message (NULL: never)
    privacy_interest: ColumnElement         # boolean


SPEC_TRIGGER: Mapping[str, Any] = {"at_least": 2, "of": [
    {"trades_this_month": {"min": 11}}, {"portfolio_value": {"min_rupees": 100000}}, {"privacy_interest": True}]}

_LEAVES = ("tier", "language", "trades_this_month", "portfolio_value", "trial_used", "opted_out",
           "last_active_days", "privacy_interest", "trigger")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _range(expr: ColumnElement, spec: Any, rule: str, scale: int = 1) -> ColumnElement:
    if not isinstance(spec, Mapping) or not spec:
        raise SegmentError(f"{rule} needs {{min = …}} and/or {{max = …}}")
    parts = []
    for key, value in spec.items():
        bound = key.split("_", 1)[0]
        if bound not in ("min", "max") or not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SegmentError(f"{rule}: {key} = {value!r} is not a numeric min/max")
        amount = int(value * scale)
        parts.append(expr >= amount if bound == "min" else expr <= amount)
    return and_(*parts)


def _flag(expr: ColumnElement, value: Any, rule: str) -> ColumnElement:
    if not isinstance(value, bool):
        raise SegmentError(f"{rule} must be true or false, got {value!r}")
    return expr if value else not_(expr)


def compile_rule(rule: Mapping[str, Any], facts: Facts, *, now: datetime) -> ColumnElement:
    """The SQL condition selecting exactly the users ``rule`` describes."""
    if not isinstance(rule, Mapping) or not rule:
        raise SegmentError(f"a rule must be a non-empty table, got {rule!r}")
    if "at_least" in rule:
        n, of = rule["at_least"], rule.get("of")
        if not isinstance(n, int) or not isinstance(of, list) or not of:
            raise SegmentError("at_least needs a number and `of = [rules]`")
        hits = sum((case((compile_rule(r, facts, now=now), 1), else_=0) for r in of), literal(0))
        return hits >= n
    if len(rule) != 1:
        raise SegmentError(f"one fact per rule table, got {sorted(rule)}; combine them with all = [..]")
    (name, value), = rule.items()
    if name in ("all", "any"):
        parts = [compile_rule(r, facts, now=now) for r in _as_list(value)]
        if not parts:
            return true() if name == "all" else false()
        return and_(*parts) if name == "all" else or_(*parts)
    if name == "not":
        # NULL (an unknown fact, e.g. never active) must read as "rule not met", so its negation holds.
        return not_(func.coalesce(compile_rule(value, facts, now=now), false()))
    if name == "tier":
        return facts.tier.in_([str(v).upper() for v in _as_list(value)])
    if name == "language":
        return facts.language.in_([str(v) for v in _as_list(value)])
    if name == "trades_this_month":
        return _range(facts.trades_this_month, value, name)
    if name == "portfolio_value":
        return _range(facts.portfolio_paise, value, name, scale=100)
    if name == "trial_used":
        return _flag(facts.trial_used, value, name)
    if name == "opted_out":
        return _flag(facts.opted_out, value, name)
    if name == "privacy_interest":
        return _flag(facts.privacy_interest, value, name)
    if name == "last_active_days":
        if not isinstance(value, Mapping) or not set(value) <= {"min", "max"} or not value:
            raise SegmentError("last_active_days needs {max = N} (active within N days) and/or {min = N}")
        parts = []
        if "max" in value:
            parts.append(facts.last_active >= now - timedelta(days=int(value["max"])))
        if "min" in value:
            parts.append(or_(facts.last_active.is_(None), facts.last_active < now - timedelta(days=int(value["min"]))))
        return and_(*parts)
    if name == "trigger":
        if value != "spec":
            raise SegmentError(f"unknown trigger {value!r} (known: \"spec\")")
        return compile_rule(SPEC_TRIGGER, facts, now=now)
    raise SegmentError(f"unknown fact {name!r} (known: {', '.join(_LEAVES)}, all, any, not, at_least)")


def validate(rule: Mapping[str, Any]) -> None:
    """Raise :class:`SegmentError` for an unreadable rule, without a database (parsing a campaign file)."""
    from sqlalchemy import column, Boolean, DateTime, Integer, String

    dummy = Facts(tier=column("tier", String), language=column("language", String),
                  trades_this_month=column("t", Integer), portfolio_paise=column("p", Integer),
                  trial_used=column("tu", Boolean), opted_out=column("o", Boolean),
                  last_active=column("la", DateTime), privacy_interest=column("pi", Boolean))
    compile_rule(rule, dummy, now=datetime(2026, 1, 1))


def describe(rule: Mapping[str, Any] | Sequence[Any]) -> str:
    """A one-line human reading of a rule, for ``campaign preview``."""
    if isinstance(rule, Mapping):
        if "at_least" in rule:
            return f"at least {rule['at_least']} of ({'; '.join(describe(r) for r in rule.get('of', []))})"
        (name, value), = rule.items()
        if name in ("all", "any"):
            return f" {'and' if name == 'all' else 'or'} ".join(f"({describe(r)})" for r in _as_list(value))
        if name == "not":
            return f"not ({describe(value)})"
        return f"{name} {value}"
    return str(rule)
