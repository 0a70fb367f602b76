"""The confirmation card and the risk alerts it carries.

The card is bound to one pending action — a new order (``draft``) or a change to an open order (``change``,
``handlers/trading/change.py``): a random id in the session, and Confirm / Cancel buttons bound to it
(``handlers/bound.py``, payload ``tconfirm:<nonce>``). A new order's client_order_id is derived from the id
and the confirm nonce, so the same confirmation can never place two orders. Risk alerts are information,
never advice: the user still decides.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from collections.abc import Mapping

from engine.api import Estimate, OrderType, Quote, Side
from handlers.bound import issue
from handlers.context import TurnContext
from handlers.replies import Button, Buttons
from handlers.security import trading_day
from handlers.session import Session
from handlers.trading.draft import Draft
from handlers.trading.states import PENDING_KEY  # noqa: F401 - the card's session key, used here and re-exported
from locales.format import ist_datetime, quantity, rupees
from locales.plural import counted

CONFIRM_ACTION = "tconfirm"
CANCEL_ACTION = "tcancel"


def client_order_id(pending_id: str, nonce: str) -> str:
    """The idempotency key of the order a confirmation places: a replay maps to the same order."""
    return f"wa-{pending_id}-{nonce}"


def new_pending(session: Session, now: datetime, ttl_s: int, *, draft: Draft | None = None,
                change: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A card's pending action (a new order's ``draft`` or an order ``change``), with its Confirm and Cancel
    buttons bound in ``session`` for ``ttl_s`` seconds. ``nonce`` is the Confirm button's nonce."""
    pid, ttl = secrets.token_hex(5), timedelta(seconds=ttl_s)
    kind = "change" if change is not None else "order"
    confirm = issue(session, CONFIRM_ACTION, now=now, ttl=ttl, pid=pid, kind=kind)
    cancel = issue(session, CANCEL_ACTION, now=now, ttl=ttl, pid=pid, kind=kind)
    pending: dict[str, Any] = {"id": pid, "nonce": confirm.nonce, "cancel": cancel.nonce, "kind": kind,
                               "expires_at": (now + ttl).isoformat()}
    if draft is not None:
        pending["draft"] = draft.to_json()
    if change is not None:
        pending["change"] = dict(change)
    return pending


def pending_expired(pending: Mapping[str, Any], now: datetime) -> bool:
    return now >= datetime.fromisoformat(str(pending["expires_at"]))


async def risk_alerts(ctx: TurnContext, draft: Draft, estimate: Estimate, quote: Quote | None) -> list[str]:
    """Simple, explainable checks before confirming (thresholds in config/trading.toml [risk])."""
    engine, account, t = ctx.services.engine, ctx.user.account, ctx.t
    risk = ctx.services.product.trading.risk
    share_pct, conc_pct, nth = risk.order_share_pct, risk.concentration_pct, risk.orders_per_day_notice
    holdings = await engine.holdings(account)
    funds = await engine.funds(account)
    invested = sum(h.value_paise for h in holdings)
    account_value = invested + funds.cash_paise
    alerts: list[str] = []
    value = estimate.value_paise
    if account_value > 0 and value * 100 > share_pct * account_value:
        alerts.append(t("trading.risk.large_order", pct=round(100 * value / account_value)))
    if draft.side == Side.BUY.value and account_value > 0:
        in_stock = sum(h.value_paise for h in holdings if h.symbol == draft.symbol) + value
        if in_stock * 100 > conc_pct * account_value:
            alerts.append(t("trading.risk.concentration", symbol=draft.symbol,
                            pct=round(100 * in_stock / account_value)))
    upper = (quote.upper_circuit_paise if quote else None) or estimate.upper_circuit_paise
    if draft.side == Side.BUY.value and upper and quote and quote.ltp_paise >= upper:
        alerts.append(t("trading.risk.upper_circuit", symbol=draft.symbol, price=rupees(upper)))
    today = trading_day(ctx.now)
    placed_today = sum(1 for o in await engine.orders(account) if trading_day(o.placed_at) == today)
    if placed_today + 1 >= nth:
        alerts.append(t("trading.risk.many_orders", n=placed_today + 1))
    return alerts


def stop_sentence(t, draft: Draft) -> str:
    """What a stop order will do, in plain words: "If INFY falls to ₹1,650.00, sell 10 at market"."""
    move = "falls" if draft.side == Side.SELL.value else "rises"
    at = "limit" if draft.order_type == OrderType.SL.value else "market"
    return t(f"trading.card.if_{move}_{at}", symbol=draft.symbol, trigger=rupees(draft.trigger_paise or 0),
             qty=quantity(draft.quantity or 0), price=rupees(draft.price_paise or 0))


def card_body(ctx: TurnContext, draft: Draft, estimate: Estimate, name: str, alerts: list[str]) -> str:
    t = ctx.t
    side = t("trading.side.buy" if draft.side == Side.BUY.value else "trading.side.sell")
    kind = draft.order_type or OrderType.MARKET.value
    if kind == OrderType.MARKET.value:
        price = t("trading.card.market_price", price=rupees(estimate.price_paise or 0))
    elif kind == OrderType.SL_M.value:
        price = t("trading.card.sl_m_price", trigger=rupees(draft.trigger_paise or 0))
    elif kind == OrderType.SL.value:
        price = t("trading.card.sl_price", price=rupees(draft.price_paise or 0),
                  trigger=rupees(draft.trigger_paise or 0))
    else:
        price = t("trading.card.limit_price", price=rupees(draft.price_paise or 0))
    lines = [t("trading.card.title", side=side)]
    if kind in (OrderType.SL.value, OrderType.SL_M.value):
        lines.append("🛡️ " + stop_sentence(t, draft))
    lines += [
             t("trading.card.body", symbol=draft.symbol, name=name, side=side,
               shares=counted(t, "trading.shares", draft.quantity or 0),
               order_type=t(f"trading.order_type.{kind.replace('-', '_').lower()}"), price=price,
               product=t(f"trading.product.{draft.product.lower()}"), value=rupees(estimate.value_paise),
               charges=rupees(estimate.charges.total), cash=rupees(estimate.available_cash_paise))]
    if estimate.is_amo:
        lines.append(t("trading.card.amo", when=ist_datetime(estimate.release_at) if estimate.release_at
                       else t("trading.card.next_open")))
    if alerts:
        lines.append(t("trading.risk.heading") + "\n" + "\n".join(f"⚠️ {a}" for a in alerts))
    ttl = ctx.services.product.trading.confirmation.ttl_seconds
    lines.append(t("trading.card.footer", minutes=max(1, round(ttl / 60))))
    return "\n\n".join(lines)


def card(ctx: TurnContext, pending: Mapping[str, Any], body: str, *, confirm_title: str | None = None,
         cancel_title: str | None = None) -> Buttons:
    """FIRST button confirms, SECOND cancels (the simulator and the tests rely on that order)."""
    return Buttons(body, (Button(f"{CONFIRM_ACTION}:{pending['nonce']}",
                                 confirm_title or ctx.t("trading.button.confirm")),
                          Button(f"{CANCEL_ACTION}:{pending['cancel']}",
                                 cancel_title or ctx.t("trading.button.cancel"))))
