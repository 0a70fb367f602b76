"""Send a campaign through the durable outbound path: :class:`~bot.cluster.outbound.OutboundSender` over a
queue kept in the campaign's own table, at the campaign's rate.

Why a table and not the in-memory queue: a campaign outlives the process that started it. Each
(campaign, user) row is the send's idempotency key and its state; the checks that may forbid a marketing
message (opt-out incl. Meta's ``user_preferences`` and 131050, the frequency cap across campaigns, a
"Not interested", a tier change, quiet hours) run when a batch is read, i.e. moments before its sends.

Exactly once: a row goes ``planned`` → ``queued`` (read) → ``sending`` (committed right before its Graph
call) → ``sent`` (the wamid) or ``failed`` (the code). After a kill or a pause, ``queued`` rows are sent by the
next run; ``sending`` rows — whose Graph call may or may not have reached Meta — become ``unknown`` and are
not sent again. Each send carries a tracker (``c:{campaign}:{nonce}``, no phone number) that Meta echoes in
the message's status webhooks, which turns an ``unknown`` row into ``sent``
(:func:`bot.campaigns.store.confirm_tracked`); only rows still unconfirmed after ``resend_unknown_after``
(``campaign resume --resend-unknown-after``) are sent again, so nobody hears a nudge twice.
Meta's 131049 (per-user marketing limit) and 131050 (the user stopped marketing) are final, never retried;
131050 also records the opt-out.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Sequence

import structlog

from bot.campaigns.store import CampaignStore, Recipient
from bot.cluster.outbound import OutboundItem, OutboundSender, RetryPolicy
from bot.cluster.outbound_log import SqlOutboundLog
from bot.cluster.outbound_queue import FAILED, Delivery
from bot.cluster.send_rate import LocalRateLimiter, SendLimiter
from bot.whatsapp.templates import BY_NAME, TEXT_SOURCE, meta_locale, render
from campaigns.definition import Campaign
from campaigns.policy import SendFacts, skip_reason
from config.product import ProductConfig
from handlers.optout import CHANGED_AT, OPTED_OUT
from handlers.replies import Reply, Template
from handlers.upgrade import PlanBook, order_pricing

log = structlog.get_logger("gridworks.campaigns")

#: Meta: the user reached the per-user marketing limit / stopped marketing messages. Final, never retried.
MARKETING_LIMIT, MARKETING_STOPPED = 131049, 131050
NUDGE_ACTIONS = ("nudge_trial", "nudge_more", "nudge_no")

SendFn = Callable[..., Awaitable[str]]     # (to, reply, *, tracker=None) -> wamid


def nudge_payloads(nonce: str) -> tuple[str, ...]:
    return tuple(f"{action}:{nonce}" for action in NUDGE_ACTIONS)


def template_values(name: str, config: ProductConfig) -> dict[str, str]:
    """The nudge templates' parameters, from the product config (never per-user data)."""
    book = PlanBook.from_config(config.plans)
    return {"days": str(book.trial_days), "pro_fee": order_pricing(config.tiers)["pro_fee"]}


def nudge_reply(catalog: Any, config: ProductConfig, template: str, lang: str, nonce: str) -> Template:
    tpl = BY_NAME[template]
    values = template_values(template, config)
    text = render(catalog, tpl, TEXT_SOURCE[meta_locale(lang)], values)
    return Template(name=tpl.name, language=lang, params=tuple(values[p] for p in tpl.params),
                    button_payloads=nudge_payloads(nonce)[: len(tpl.buttons)], text=text, category=tpl.category)


@dataclass
class Progress:
    """Counts the runner reports while it sends (``on_change`` is called after every change)."""

    total: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    on_change: Callable[["Progress"], None] | None = None

    def bump(self, what: str, n: int = 1) -> None:
        setattr(self, what, getattr(self, what) + n)
        if self.on_change is not None:
            self.on_change(self)


class GroupCommit:
    """Marks written together: each caller returns once the transaction holding its mark committed, so the
    durability of every single mark is kept while many concurrent sends share one commit."""

    def __init__(self, write: Callable[[list[Any]], Awaitable[None]]) -> None:
        self._write = write
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def put(self, row: Any) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        await asyncio.shield(future)        # a cancelled caller still gets its mark written

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write([row for row, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each waiting caller sees the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


class CampaignQueue:
    """The :class:`~bot.cluster.outbound.OutboundSource` of one campaign, kept in ``campaign_sends``."""

    partitions = 1

    def __init__(self, store: CampaignStore, campaign: Campaign, *, now: Callable[[], datetime], catalog: Any,
                 config: ProductConfig, users: Any, progress: Progress) -> None:
        self.store, self.c, self.now = store, campaign, now
        self.catalog, self.config, self.users, self.progress = catalog, config, users, progress
        self.by_address: dict[str, str] = {}       # address -> user key of items handed to the sender
        self.nonces: dict[str, str] = {}           # user key -> the nonce of their send (its tracker)
        self.outstanding = 0
        self.exhausted = False
        self.stopped_by: str | None = None        # "paused" | "quiet" when reading stopped for that reason
        self._marks = GroupCommit(lambda rows: store.mark_many(campaign.id, rows, now()))
        self._state_checked = 0.0

    async def enqueue(self, items: Sequence[OutboundItem]) -> int:
        raise NotImplementedError("a campaign's sends are planned by CampaignStore.plan")

    async def claim(self, partition: int, consumer: str) -> list[Delivery]:
        return []            # :func:`run` recovered what a previous run left in hand before starting

    async def read(self, partition: int, consumer: str, *, count: int, block_ms: int) -> list[Delivery]:
        if self.stopped_by or self.exhausted:
            await asyncio.sleep(0.02)
            return []
        now = self.now()
        if time.monotonic() - self._state_checked >= 0.5:        # a pause is noticed within half a second
            self._state_checked = time.monotonic()
            if await self.store.state(self.c.id) != "running":
                self.stopped_by = "paused"
                return []
        if self.c.policy.quiet(now):
            self.stopped_by = "quiet"
            return []
        batch = await self.store.next_batch(self.c, now, count)
        if not batch:
            self.exhausted = True
            return []
        changes: list[tuple[str, str, str | None]] = []
        out: list[Delivery] = []
        for r in batch:
            reason = skip_reason(SendFacts(tier=r.tier, opted_out=r.opted_out, recent_marketing=r.recent_marketing,
                                           suppressed=r.suppressed, address=r.phone or r.bsuid), self.c.policy)
            if reason is not None:
                changes.append((r.key, "skipped", reason.value))
                continue
            changes.append((r.key, "queued", None))
            out.append(Delivery(r.key, self._item(r)))
        await self.store.set_send_states(self.c.id, changes, now)
        self.progress.bump("skipped", len(batch) - len(out))
        self.outstanding += len(out)
        return out

    def _item(self, r: Recipient) -> OutboundItem:
        arm = self.c.arm(r.arm)
        assert arm is not None and arm.template is not None
        to = r.phone or r.bsuid or r.key
        self.by_address[to] = r.key
        self.nonces[r.key] = r.nonce
        return OutboundItem(key=f"{self.c.id}:{r.key}", user_key=r.key, to=to, correlation_id=self.c.correlation,
                            reply=nudge_reply(self.catalog, self.config, arm.template, r.language, r.nonce),
                            partition=0)

    async def ack(self, partition: int, entry_ids: Sequence[str]) -> None:
        return None

    async def marks(self, keys: Sequence[str]) -> dict[str, str]:
        return {}        # rows read in this run are unsent by construction (sent rows are never read)

    async def mark(self, key: str, value: str) -> None:
        user_key = key.split(":", 1)[1]
        now = self.now()
        self.outstanding -= 1
        if value.startswith(FAILED):
            code = value.rsplit(":", 1)[1]
            error = int(code) if code.isdigit() else None
            await self._marks.put((user_key, "failed", None, error))
            if error == MARKETING_STOPPED:
                await self.users.update(user_key, profile_changes={OPTED_OUT: True, CHANGED_AT: now.isoformat()})
            self.progress.bump("failed")
            return
        await self._marks.put((user_key, "sent", value, None))
        self.progress.bump("sent")

    def sender_fn(self, send: SendFn) -> SendFn:
        """``send`` preceded by the durable ``sending`` mark (see the module docstring)."""
        async def guarded(to: str, reply: Reply) -> str:
            user_key = self.by_address[to]
            await self._marks.put((user_key, "sending", None, None))
            return await send(to, reply, tracker=f"c:{self.c.id}:{self.nonces[user_key]}")
        return guarded


class _BothLimits:
    def __init__(self, *limiters: SendLimiter) -> None:
        self._limiters = limiters

    async def acquire(self) -> None:
        for limiter in self._limiters:
            await limiter.acquire()


@dataclass
class RunResult:
    campaign: str
    state: str
    sent: int
    failed: int
    skipped: int
    seconds: float
    stopped_by: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


async def run(store: CampaignStore, campaign: Campaign, *, send: SendFn, now: Callable[[], datetime], catalog: Any,
              config: ProductConfig, users: Any, number_limiter: SendLimiter | None = None,
              progress: Progress | None = None, max_in_flight: int | None = None,
              policy: RetryPolicy = RetryPolicy(), resend_unknown_after: timedelta | None = None) -> RunResult:
    """Send the campaign's planned rows until none is left, it is paused, or quiet hours begin.
    ``resend_unknown_after``: also send ``unknown`` rows that no status confirmed for that long."""
    progress = progress or Progress()
    started = time.monotonic()
    if await store.state(campaign.id) in (None, "planned"):
        await store.save(campaign, now())
        await store.plan(campaign, now())
        await store.set_state(campaign.id, "running", now())
    back, lost = await store.recover(campaign.id, now())
    if back or lost:
        log.info("campaign_recovered", campaign=campaign.id, requeued=back, unknown=lost)
    if resend_unknown_after is not None:
        await store.resend_unknown(campaign.id, now() - resend_unknown_after)
    states = await store.states(campaign.id)
    progress.total = sum(v for k, v in states.items() if k != "holdout")
    progress.sent, progress.failed = states.get("sent", 0), states.get("failed", 0)
    progress.skipped = states.get("skipped", 0)
    queue = CampaignQueue(store, campaign, now=now, catalog=catalog, config=config, users=users, progress=progress)
    limiter: SendLimiter = LocalRateLimiter(campaign.policy.rate)
    if number_limiter is not None:
        limiter = _BothLimits(limiter, number_limiter)
    # About two seconds of sends are read ahead (one batch read costs several round trips): the send-time
    # checks still run moments before the sends, and reading never starves the rate.
    in_flight = max_in_flight or max(16, min(1024, int(2 * campaign.policy.rate)))
    sender = OutboundSender(queue, send=queue.sender_fn(send), audit=SqlOutboundLog(store.db), consumer="campaign",
                            limiter=limiter, policy=policy, batch=min(256, in_flight), max_in_flight=in_flight,
                            block_ms=50)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run_partition(0, stop), name=f"campaign-{campaign.id}")
    try:
        while not task.done():
            await asyncio.sleep(0.05)
            if (queue.exhausted or queue.stopped_by) and queue.outstanding <= 0:
                break
    finally:
        stop.set()
        await task
    await reconcile_optouts(store, campaign.id, users, now())
    states = await store.states(campaign.id)
    state = await store.state(campaign.id) or "planned"
    if state == "running" and not any(states.get(k) for k in ("planned", "queued", "sending", "unknown")):
        state = "done"
        await store.set_state(campaign.id, state, now())
    return RunResult(campaign=campaign.id, state=state, sent=states.get("sent", 0), failed=states.get("failed", 0),
                     skipped=states.get("skipped", 0), seconds=time.monotonic() - started,
                     stopped_by=queue.stopped_by, counts=dict(states))


async def reconcile_optouts(store: CampaignStore, campaign_id: str, users: Any, now: datetime) -> int:
    """131050 can also arrive later, as a failed delivery status: record those users' opt-out too."""
    rows = await store.funnel_rows(campaign_id)
    stopped = [r["user_key"] for r in rows if MARKETING_STOPPED in (r.get("error_code"), r.get("send_error"))
               and not r.get("opted_out") and r.get("tier") == "LITE"]
    for key in stopped:
        await users.update(key, profile_changes={OPTED_OUT: True, CHANGED_AT: now.isoformat()})
    return len(stopped)
