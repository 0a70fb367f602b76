"""GridWorks PRO: the plans offer, the free trial, simulated paid plans and their expiry.

Plans and the trial come from ``config/plans.toml``; per-order brokerage is the engine's
``config/tiers.toml`` and is only *shown* here. Starting the trial or a plan switches the tier at once;
the end of a plan is enforced twice — by :func:`on_tick` (pushes a reminder 3 days before a trial ends
and the expiry notice) and by the SubscriptionCheck middleware (before routing, so the tier is right
even when no tick ran). Both go through :func:`expire_if_due`, which is idempotent.

The plan rows and the pay button are bound server-side (``handlers/bound.py``): a tap names a plan the
server offered this user (the pay button: once, and only while its card is the open dialogue), never a plan
id taken from the payload.

Campaign nudges (``bot/campaigns``) land here too: their buttons carry ``nudge_trial|nudge_more|nudge_no:<nonce>``
and the nonce is looked up in the campaign store (``services.extras["campaigns"]``) for the tapping user only;
"Not interested" suppresses that campaign for them. Trials and payments are attributed to the campaigns that
planned the user (their holdout too, the baseline of the uplift).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from config.product import PlansConfig, TiersConfig
from engine.api import Tier
from handlers.bound import BoundAction, Reason, Refused, refusal_text, take
from handlers.bound import issue as bind
from handlers.context import Services, TurnContext
from handlers.conversation import IDLE, Conversation, interrupt
from handlers.replies import Button, Buttons, ListReply, ListRow, Reply, Template, Text
from handlers.router import UNHANDLED, Router
from handlers.service_window import in_service_window, push_reply
from handlers.users import User
from locales.format import ist_date, rupees
from locales.plural import counted

router = Router("upgrade")

PLAN = "plan"              # profile key: {"id", "until", "reminded"}
TRIAL_USED = "trial_used"  # profile key: the free trial is once per user
TRIAL = "trial"
PICK_ACTION = "plan"
PAY_ACTION = "planpay"
PAY_MINUTES = 10
#: The pay card is open (bound to one plan): anything typed drops it; its Pay button works only while it is.
PAYMENT = "payment"
UPGRADE = Conversation("upgrade", transitions={IDLE: frozenset({PAYMENT}), PAYMENT: frozenset({PAYMENT})},
                       timeout=timedelta(minutes=PAY_MINUTES), timeout_reply="upgrade.pay.stale",
                       requires={PAYMENT: ("pay",)})


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    price_paise: int
    days: int


@dataclass(frozen=True, slots=True)
class PlanBook:
    """The offer as configured: paid plans plus the free trial's length and reminder lead time."""

    plans: tuple[Plan, ...]
    trial_days: int
    remind_days_before: int

    @classmethod
    def from_config(cls, plans: PlansConfig) -> "PlanBook":
        """From ``config/plans.toml``."""
        return cls(plans=tuple(Plan(id=p.id, price_paise=p.price_paise, days=p.days) for p in plans.plan),
                   trial_days=plans.trial.days, remind_days_before=plans.trial.remind_days_before)

    def get(self, plan_id: str) -> Plan | None:
        return next((p for p in self.plans if p.id == plan_id), None)


def price(paise: int) -> str:
    return rupees(paise, always_decimals=False)


def order_pricing(tiers: TiersConfig) -> dict[str, str]:
    """Per-executed-order brokerage for the offer text, from the engine's ``config/tiers.toml``."""
    lite, pro = tiers.LITE.brokerage, tiers.PRO.brokerage
    return {"lite_min": price(lite.lowest_paise), "lite_max": price(lite.highest_paise),
            "pro_fee": price(pro.highest_paise)}


def _plan_state(user: User) -> dict[str, Any] | None:
    state = user.profile.get(PLAN)
    return dict(state) if isinstance(state, Mapping) and state.get("until") else None


def plan_name(t, plan_id: str) -> str:
    return t(f"upgrade.plan.{plan_id}.name") if t.has(f"upgrade.plan.{plan_id}.name") else plan_id


def offer(ctx: TurnContext, *, intro_key: str = "upgrade.offer.body", with_trial: bool = True,
          **params: Any) -> ListReply:
    t, book = ctx.t, PlanBook.from_config(ctx.services.product.plans)
    ttl = timedelta(minutes=ctx.services.product.trading.buttons.menu_minutes)

    def row_id(plan_id: str) -> str:
        return bind(ctx.session, PICK_ACTION, now=ctx.now, ttl=ttl, once=False, plan=plan_id).payload

    rows: list[ListRow] = []
    if with_trial and not ctx.user.profile.get(TRIAL_USED):
        rows.append(ListRow(id=row_id(TRIAL), title=t("upgrade.trial.title", days=book.trial_days),
                            description=counted(t, "upgrade.trial.description", book.trial_days)))
    for plan in book.plans:
        rows.append(ListRow(id=row_id(plan.id), title=t("upgrade.plan.row", name=plan_name(t, plan.id),
                                                          price=price(plan.price_paise)),
                            description=t(f"upgrade.plan.{plan.id}.description")))
    return ListReply(body=t(intro_key, **order_pricing(ctx.services.product.tiers), **params),
                     button=t("upgrade.offer.button"),
                     rows=tuple(rows), section_title=t("upgrade.offer.section"))


NUDGE_TAPS = {"nudge_trial": "tap_trial", "nudge_more": "tap_more", "nudge_no": "tap_no"}


async def _attribute(ctx: TurnContext, kind: str) -> None:
    store = ctx.services.extras.get("campaigns")
    if store is not None:
        await store.attribute(ctx.user.key, kind, ctx.now)


async def _nudge_tap(ctx: TurnContext) -> Text | None:
    """Record a nudge tap; a refusal (nothing changes) when the nonce was not issued to this user."""
    store = ctx.services.extras.get("campaigns")
    action, _, nonce = (ctx.message.payload or "").partition(":")
    nudge = await store.resolve(ctx.user.key, nonce) if store is not None and action in NUDGE_TAPS else None
    if nudge is None:
        return Text(refusal_text(ctx.t, Reason.UNKNOWN))
    await store.record(nudge, NUDGE_TAPS[action], ctx.now)
    interrupt(ctx.session)
    return None


@router.on_payload("nudge_trial")
async def nudge_trial(ctx: TurnContext):
    """"Start free trial" on a nudge: the trial at once (once per user), else the plans."""
    refused = await _nudge_tap(ctx)
    if refused is not None:
        return refused
    if ctx.user.tier == Tier.PRO:
        return await show_status(ctx)
    if ctx.user.profile.get(TRIAL_USED):
        return [Text(ctx.t("upgrade.trial.used")), offer(ctx, with_trial=False)]
    book = PlanBook.from_config(ctx.services.product.plans)
    until = await _activate(ctx, TRIAL, book.trial_days)
    return Text(counted(ctx.t, "upgrade.trial.started", book.trial_days, date=ist_date(until)))


@router.on_payload("nudge_more")
async def nudge_more(ctx: TurnContext):
    """"Tell me more": the upgrade offer, as if the user had asked for it."""
    refused = await _nudge_tap(ctx)
    if refused is not None:
        return refused
    return await (show_status(ctx) if ctx.user.tier == Tier.PRO else show_plans(ctx))


@router.on_payload("nudge_no")
async def nudge_no(ctx: TurnContext):
    """"Not interested": this campaign never messages the user again (recorded as ``tap_no``)."""
    refused = await _nudge_tap(ctx)
    return refused if refused is not None else Text(ctx.t("campaigns.declined"))


async def _activate(ctx: TurnContext, plan_id: str, days: int) -> datetime:
    until = ctx.now + timedelta(days=days)
    changes: dict[str, Any] = {PLAN: {"id": plan_id, "until": until.isoformat(), "reminded": False}}
    if plan_id == TRIAL:
        changes[TRIAL_USED] = True
    await ctx.services.users.update(ctx.user.key, tier=Tier.PRO, profile_changes=changes)
    await ctx.services.engine.seal_accounts([ctx.user.account])   # PRO at rest from now: history included
    await _attribute(ctx, "trial" if plan_id == TRIAL else "paid")
    return until


@router.on_intent("upgrade", tier=Tier.LITE)
@router.on_payload("upgrade", tier=Tier.LITE)
async def show_plans(ctx: TurnContext):
    interrupt(ctx.session)
    return offer(ctx)


@router.on_intent("upgrade", tier=Tier.PRO)
@router.on_payload("upgrade", tier=Tier.PRO)
async def show_status(ctx: TurnContext):
    interrupt(ctx.session)
    state = _plan_state(ctx.user)
    if state is None:
        return Text(ctx.t("upgrade.status.granted"))
    until = ist_date(datetime.fromisoformat(state["until"]))
    if state["id"] == TRIAL:
        return offer(ctx, intro_key="upgrade.status.trial", with_trial=False, date=until)
    return Text(ctx.t("upgrade.status.paid", plan=plan_name(ctx.t, state["id"]), date=until))


def _picked(ctx: TurnContext) -> BoundAction | Text:
    tapped = take(ctx.session, ctx.message.payload, ctx.now)
    return Text(refusal_text(ctx.t, tapped.reason)) if isinstance(tapped, Refused) else tapped


@router.on_payload(PICK_ACTION, tier=Tier.LITE)
async def pick_plan(ctx: TurnContext):
    picked = _picked(ctx)
    if isinstance(picked, Text):
        return [picked, offer(ctx)]         # a fresh offer to pick from (showing it changes nothing)
    plan_id = str(picked.params.get("plan"))
    book = PlanBook.from_config(ctx.services.product.plans)
    if plan_id == TRIAL:
        if ctx.user.profile.get(TRIAL_USED):
            return [Text(ctx.t("upgrade.trial.used")), offer(ctx, with_trial=False)]
        until = await _activate(ctx, TRIAL, book.trial_days)
        return Text(counted(ctx.t, "upgrade.trial.started", book.trial_days, date=ist_date(until)))
    return _pay_card(ctx, book, plan_id)


@router.on_payload(PICK_ACTION, tier=Tier.PRO)
async def pick_plan_pro(ctx: TurnContext):
    picked = _picked(ctx)
    if isinstance(picked, Text):
        return picked
    plan_id = str(picked.params.get("plan"))
    state = _plan_state(ctx.user)
    if plan_id == TRIAL or (state is not None and state["id"] != TRIAL) or state is None:
        return Text(ctx.t("upgrade.already_pro"))
    return _pay_card(ctx, PlanBook.from_config(ctx.services.product.plans), plan_id)


def _pay_card(ctx: TurnContext, book: PlanBook, plan_id: str):
    plan = book.get(plan_id)
    if plan is None:
        return [Text(ctx.t("upgrade.unknown_plan")), offer(ctx)]
    ttl = timedelta(minutes=PAY_MINUTES)
    button = bind(ctx.session, PAY_ACTION, now=ctx.now, ttl=ttl, plan=plan.id)
    UPGRADE.enter(ctx.session, PAYMENT, now=ctx.now, until=ctx.now + ttl, plan=plan.id, pay=button.nonce)
    amount = price(plan.price_paise)
    return Buttons(counted(ctx.t, "upgrade.pay.confirm", plan.days, plan=plan_name(ctx.t, plan.id), price=amount),
                   (Button(button.payload, ctx.t("upgrade.button.pay", price=amount)),
                    Button("plancancel", ctx.t("upgrade.button.cancel"))))


@router.on_payload(PAY_ACTION)
async def pay(ctx: TurnContext):
    """Pay: the bound button of the pay card that is still the open dialogue (cancelled or replaced: stale)."""
    tapped = take(ctx.session, ctx.message.payload, ctx.now)
    if isinstance(tapped, Refused):
        return Text(ctx.t("upgrade.pay.stale") if tapped.reason != Reason.USED
                    else refusal_text(ctx.t, tapped.reason))
    plan_id = str(tapped.params.get("plan"))
    plan = PlanBook.from_config(ctx.services.product.plans).get(plan_id)
    open_card = ctx.session.awaiting == PAYMENT and ctx.session.data.get("pay") == tapped.nonce \
        and ctx.session.data.get("plan") == plan_id
    interrupt(ctx.session)          # the tap answers the card, whatever else was open
    if plan is None or not open_card:
        return Text(ctx.t("upgrade.pay.stale"))
    until = await _activate(ctx, plan.id, plan.days)
    return Text(ctx.t("upgrade.paid.started", plan=plan_name(ctx.t, plan.id), date=ist_date(until),
                      **order_pricing(ctx.services.product.tiers)))


@router.on_payload("plancancel")
async def pay_cancel(ctx: TurnContext):
    interrupt(ctx.session)
    return Text(ctx.t("upgrade.pay.cancelled"))


@router.on_awaiting(PAYMENT)
async def payment_pending(ctx: TurnContext):
    """Anything typed while the pay card is open: drop the card (nothing is charged) and route normally."""
    UPGRADE.end(ctx.session)
    return UNHANDLED


async def expire_if_due(services: Services, user: User, now: datetime, *,
                        profile_changes: Mapping[str, Any] | None = None) -> tuple[User | None, Reply | None]:
    """End the user's plan when its time is up: back to LITE, and the notice to give them.

    Returns ``(updated_user, notice)``, or ``(None, None)`` when nothing was due (``profile_changes`` are
    then left to the caller)."""
    state = _plan_state(user)
    if state is None or datetime.fromisoformat(state["until"]) > now:
        return None, None
    updated = await services.users.update(user.key, tier=Tier.LITE,
                                          profile_changes={**(profile_changes or {}), PLAN: None})
    t = services.catalog.translator(user.language or "en")
    if state["id"] == TRIAL:
        text = t("upgrade.expired.trial")
    else:
        text = t("upgrade.expired.paid", plan=plan_name(t, state["id"]))
    return updated, Buttons(text, (Button("upgrade", t("upgrade.button.plans")),))


TRIGGER_CAMPAIGN = "auto-trades"


async def pro_offer(services: Services, user: User, now: datetime) -> Reply | None:
    """The always-on trigger (``config/campaigns.toml`` ``[trigger]``): once a LITE user's Nth trade of the
    month (11th by default) has filled, offer PRO once — under the campaigns' opt-out, frequency cap and quiet
    hours, with a holdout (recorded, sent nothing) so ``campaign report auto-trades`` measures it."""
    from campaigns.assign import Arm, arm_for
    from campaigns.policy import Policy
    from engine.clock import IST
    from handlers.optout import marketing_allowed

    campaigns = services.product.campaigns
    cfg, store = campaigns.trigger, services.extras.get("campaigns")
    policy = Policy.from_config(campaigns.policy)
    if not cfg.enabled or store is None or policy.quiet(now) or user.tier != Tier.LITE \
            or user.profile.get(TRIAL_USED) or not marketing_allowed(user):
        return None
    threshold, holdout = cfg.trades, cfg.holdout
    month = now.astimezone(IST).date().replace(day=1)
    trades = await services.engine.trades(user.account)
    if sum(1 for tr in trades if tr.at.astimezone(IST).date() >= month) < threshold:
        return None
    arms = (Arm("control", holdout), Arm("A", 100 - holdout, cfg.template))
    definition = {"id": TRIGGER_CAMPAIGN, "name": f"Always on: PRO offer at trade {threshold} of a month",
                  "segment": {"tier": "LITE"}, "policy": {"cap_days": policy.cap_days},
                  "arms": [{"name": a.name, "weight": a.weight, "template": a.template} for a in arms]}
    nudge = await store.trigger_nudge(TRIGGER_CAMPAIGN, definition, user.key,
                                      arm_for(TRIGGER_CAMPAIGN, user.key, arms).name, now,
                                      cap_days=policy.cap_days, cap_count=policy.cap_count)
    if nudge is None or nudge.arm == "control":
        return None
    lang = user.language or "en"
    t, days = services.catalog.translator(lang), PlanBook.from_config(services.product.plans).trial_days
    titles = (t("campaigns.button.trial"), t("campaigns.button.more"), t("campaigns.button.no"))
    payloads = tuple(f"{a}:{nudge.nonce}" for a in NUDGE_TAPS)
    text = t("campaigns.nudge.a", days=days)
    if in_service_window(user, now):
        return Buttons(text, tuple(Button(p, title) for p, title in zip(payloads, titles)))
    return Template(name="gw_nudge_a", language=lang, params=(str(days),), button_payloads=payloads, text=text,
                    category="MARKETING")


async def offer_on_fills(services: Services, now: datetime, events: Sequence[Any]) -> list[tuple[User, list[Reply]]]:
    """:func:`pro_offer` for the owners of resting orders that filled on this tick."""
    from engine.api import EngineEvent, EventKind

    fills = (EventKind.FILLED, EventKind.PARTIALLY_FILLED)
    out: list[tuple[User, list[Reply]]] = []
    for key in dict.fromkeys(e.order.account for e in events if isinstance(e, EngineEvent) and e.kind in fills):
        user = await services.users.get(key)
        reply = await pro_offer(services, user, now) if user is not None else None
        if user is not None and reply is not None:
            out.append((user, [reply]))
    return out


async def on_tick(services: Services, now: datetime, events: Sequence[Any]) -> list[tuple[User, list[Reply]]]:
    """Trial reminders and plan expiries that fall due as time passes; the always-on PRO offer."""
    pushes: list[tuple[User, list[Reply]]] = await offer_on_fills(services, now, events)
    book = PlanBook.from_config(services.product.plans)
    for key in await services.users.all_keys(tier=Tier.PRO):     # only PRO users can have a plan running
        user = await services.users.get(key)
        state = _plan_state(user) if user is not None else None
        if user is None or state is None:
            continue
        lang = user.language or "en"
        t = services.catalog.translator(lang)
        until = datetime.fromisoformat(state["until"])
        if until <= now:
            updated, notice = await expire_if_due(services, user, now)
            if updated is not None and notice is not None:
                trial = state["id"] == TRIAL
                pushes.append((updated, [push_reply(
                    updated, now, text=notice.body, template="gw_trial_ended" if trial else "gw_plan_ended",
                    lang=lang, params=() if trial else (plan_name(t, state["id"]),),
                    buttons=(("upgrade", t("upgrade.button.plans")),))]))
        elif state["id"] == TRIAL and not state.get("reminded") and \
                until - now <= timedelta(days=book.remind_days_before):
            days_left = max(1, -(-int((until - now).total_seconds()) // 86400))
            updated = await services.users.update(user.key, profile_changes={PLAN: {**state, "reminded": True}})
            # (the template's body, ``upgrade.reminder``, takes the bare number Meta fills in)
            text = counted(t, "upgrade.reminder_text", days_left, date=ist_date(until))
            pushes.append((updated, [push_reply(updated, now, text=text, template="gw_trial_reminder", lang=lang,
                                                params=(ist_date(until), str(days_left)),
                                                buttons=(("upgrade", t("upgrade.button.plans")),))]))
    return pushes
