"""PRO analytics: allocation by sector, concentration, P&L attribution and behavioural coaching.

PRO-only by route declaration (``tier=Tier.PRO``); a LITE user tapping "analytics" is answered by the tier
middleware, and a LITE user *asking* for it in words gets the same upgrade offer from the LITE route here.
The numbers are computed from the engine's holdings and trades by pure functions (testable without a
conversation). The coaching looks at behaviour, never at which stock to pick: overtrading, buying again
right after a loss (loss chasing), and averaging down on the same falling stock again and again.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from config.product import CoachingConfig
from engine.api import Holding, Side, Tier, Trade
from engine.clock import IST
from engine.instruments import load_instruments
from handlers import portfolio        # a module: its cost basis is the one P&L uses
from handlers.context import TurnContext
from handlers.conversation import interrupt
from handlers.replies import Text, texts
from handlers.pro_only import pro_only_reply
from handlers.router import UNHANDLED, Router
from locales.format import rupees

router = Router("analytics")

#: Intents an analytics request may be classified as ("analyse my portfolio" is usually "portfolio").
ASKED_AS = ("portfolio", "clarify", "out_of_scope", "education", "help")


@dataclass(frozen=True, slots=True)
class CoachingRules:
    """Thresholds for the nudges (``config/analytics.toml`` ``[coaching]``)."""

    window_days: int = 7
    overtrading_orders_per_day: int = 8
    overtrading_orders_per_window: int = 25
    loss_chase_minutes: int = 60
    loss_chase_min_events: int = 2
    averaging_down_streak: int = 3

    @classmethod
    def from_config(cls, coaching: CoachingConfig) -> "CoachingRules":
        return cls(**coaching.model_dump())


def sector_allocation(holdings: Sequence[Holding], sector_of: Mapping[str, str]) -> list[tuple[str, int, float]]:
    """(sector, value in paise, percent of portfolio), largest first."""
    values: Counter[str] = Counter()
    for h in holdings:
        values[sector_of.get(h.symbol, "Other")] += h.value_paise
    total = sum(values.values())
    return [(s, v, 100.0 * v / total if total else 0.0) for s, v in values.most_common()]


def concentration(holdings: Sequence[Holding]) -> tuple[str, float, float] | None:
    """(largest holding, its percent, percent of the top three) or None without holdings."""
    ranked = sorted(holdings, key=lambda h: h.value_paise, reverse=True)
    total = sum(h.value_paise for h in ranked)
    if not ranked or total <= 0:
        return None
    return ranked[0].symbol, 100.0 * ranked[0].value_paise / total, \
        100.0 * sum(h.value_paise for h in ranked[:3]) / total


def realized_by_symbol(trades: Iterable[Trade]) -> dict[str, int]:
    """Realized P&L per symbol by the average-cost method, in trade order (paise)."""
    qty: dict[str, int] = defaultdict(int)
    cost: dict[str, int] = defaultdict(int)
    realized: dict[str, int] = defaultdict(int)
    for t in sorted(trades, key=lambda t: t.at):
        if t.side is Side.BUY:
            qty[t.symbol] += t.quantity
            cost[t.symbol] += t.quantity * t.price_paise
        elif qty[t.symbol] > 0:
            sold = min(t.quantity, qty[t.symbol])
            avg = cost[t.symbol] // qty[t.symbol]
            realized[t.symbol] += sold * (t.price_paise - avg)
            cost[t.symbol] -= sold * avg
            qty[t.symbol] -= sold
    return dict(realized)


def _orders(trades: Iterable[Trade]) -> list[tuple[str, str, Side, int, int, datetime]]:
    """Trades folded into executed orders: (order id, symbol, side, quantity, average price, first fill time)."""
    grouped: dict[str, list[Trade]] = defaultdict(list)
    for t in trades:
        grouped[t.order_id].append(t)
    out = []
    for oid, fills in grouped.items():
        q = sum(f.quantity for f in fills)
        avg = sum(f.quantity * f.price_paise for f in fills) // q if q else 0
        out.append((oid, fills[0].symbol, fills[0].side, q, avg, min(f.at for f in fills)))
    return sorted(out, key=lambda o: o[5])


def nudges(trades: Sequence[Trade], now: datetime, rules: CoachingRules = CoachingRules()
           ) -> list[tuple[str, dict[str, Any]]]:
    """Behavioural nudges as (locale key suffix, params)."""
    out: list[tuple[str, dict[str, Any]]] = []
    recent = [o for o in _orders(trades) if o[5] >= now - timedelta(days=rules.window_days)]
    per_day = Counter(o[5].astimezone(IST).date() for o in recent)
    busiest = max(per_day.values(), default=0)
    if busiest >= rules.overtrading_orders_per_day or len(recent) >= rules.overtrading_orders_per_window:
        out.append(("overtrading", {"count": len(recent), "days": rules.window_days, "busiest": busiest}))
    # Loss chasing: a buy within N minutes after a sell that realized a loss.
    qty: dict[str, int] = defaultdict(int)
    cost: dict[str, int] = defaultdict(int)
    last_loss_at: datetime | None = None
    chases = 0
    for _, symbol, side, q, avg, at in _orders(trades):
        if side is Side.BUY:
            if last_loss_at is not None and at - last_loss_at <= timedelta(minutes=rules.loss_chase_minutes) \
                    and at >= now - timedelta(days=30):
                chases += 1
                last_loss_at = None
            qty[symbol] += q
            cost[symbol] += q * avg
        elif qty[symbol] > 0:
            sold = min(q, qty[symbol])
            unit = cost[symbol] // qty[symbol]
            if avg < unit:
                last_loss_at = at
            cost[symbol] -= sold * unit
            qty[symbol] -= sold
    if chases >= rules.loss_chase_min_events:
        out.append(("loss_chasing", {"count": chases, "minutes": rules.loss_chase_minutes}))
    # Averaging down: consecutive buys of one symbol, each cheaper than the one before.
    streaks: dict[str, tuple[int, int]] = {}
    worst: tuple[str, int] | None = None
    for _, symbol, side, _q, avg, at in _orders(trades):
        if side is not Side.BUY or at < now - timedelta(days=30):
            if side is Side.SELL:
                streaks.pop(symbol, None)
            continue
        count, last = streaks.get(symbol, (0, 0))
        count = count + 1 if count and avg < last else 1
        streaks[symbol] = (count, avg)
        if count >= rules.averaging_down_streak and (worst is None or count > worst[1]):
            worst = (symbol, count)
    if worst is not None:
        out.append(("averaging_down", {"symbol": worst[0], "count": worst[1]}))
    return out


def wants_analytics(ctx: TurnContext) -> bool:
    """Does the message ask for analytics? (Words per language in ``analytics.words``.)"""
    text = f" {ctx.text.casefold()} "
    for lang in {ctx.lang, "en"}:
        for word in ctx.services.catalog.raw(lang, "analytics.words").split("|"):
            if word.strip() and word.strip().casefold() in text:
                return True
    return False


def _signed(paise: int) -> str:
    return ("+" if paise >= 0 else "") + rupees(paise)


async def report(ctx: TurnContext) -> list[Text]:
    engine, t, account = ctx.services.engine, ctx.t, ctx.user.account
    holdings = [h for h in await engine.holdings(account) if h.total_quantity > 0]
    trades = list(await engine.trades(account))
    if not holdings and not trades:
        return [Text(t("analytics.empty"))]
    sectors = {i.symbol: i.sector for i in load_instruments().all()}
    parts = [t("analytics.title")]
    if holdings:
        lines = [t("analytics.sector_line", sector=t(f"analytics.sector.{s}") if t.has(f"analytics.sector.{s}") else s,
                   pct=f"{pct:.1f}%", value=rupees(v)) for s, v, pct in sector_allocation(holdings, sectors)]
        parts.append(t("analytics.sectors") + "\n" + "\n".join(lines))
        top = concentration(holdings)
        if top is not None:
            symbol, pct, top3 = top
            key = "analytics.concentration_high" if pct > 20.0 else "analytics.concentration_ok"
            parts.append(t(key, symbol=symbol, pct=f"{pct:.1f}%", top3=f"{top3:.1f}%", limit="20%"))
    realized = realized_by_symbol(trades)
    costs = await portfolio.cost_basis(ctx, holdings)           # the contract notes' cost, not avg × qty
    unrealized = {h.symbol: h.value_paise - costs[h.symbol] for h in holdings}
    contributions = Counter({s: unrealized.get(s, 0) + realized.get(s, 0) for s in set(unrealized) | set(realized)})
    ranked = sorted(contributions.items(), key=lambda kv: abs(kv[1]), reverse=True)[:3]
    parts.append(t("analytics.pnl", unrealized=_signed(sum(unrealized.values())),
                   realized=_signed(sum(realized.values())),
                   contributors=", ".join(f"{s} {_signed(v)}" for s, v in ranked) or "—"))
    found = nudges(trades, ctx.now, CoachingRules.from_config(ctx.services.product.analytics.coaching))
    coaching = [t(f"analytics.nudge.{key}", **params) for key, params in found] or [t("analytics.nudge.none")]
    parts.append(t("analytics.coaching") + "\n" + "\n".join(f"• {line}" for line in coaching))
    parts.append(t("analytics.footer"))
    return texts("\n\n".join(parts))


@router.on_payload("analytics", tier=Tier.PRO)
async def analytics_tap(ctx: TurnContext):
    interrupt(ctx.session)
    return await report(ctx)


@router.on_intent(*ASKED_AS, tier=Tier.PRO)
async def analytics_asked(ctx: TurnContext):
    if ctx.message.payload is not None or not wants_analytics(ctx):
        return UNHANDLED
    interrupt(ctx.session)
    return await report(ctx)


@router.on_intent(*ASKED_AS, tier=Tier.LITE)
async def analytics_asked_lite(ctx: TurnContext):
    """The same offer the tier middleware gives for a PRO-only tap, for a request made in words."""
    if ctx.message.payload is not None or not wants_analytics(ctx):
        return UNHANDLED
    return pro_only_reply(ctx.t, "analytics")
