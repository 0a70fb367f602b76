"""``gridworks campaign preview|run|pause|resume|status|report``: upgrade-nudge campaigns (``bot/campaigns``).

``preview FILE`` shows the audience per arm and a sample and sends nothing; ``run FILE`` plans the audience
once (frozen) and sends at the campaign's rate with a progress bar (``--dry-run``: what would be sent now,
after the opt-out and cap checks, without writing anything); ``pause ID`` stops a running send after the
calls in hand; ``resume ID`` continues it; ``status ID`` counts send states; ``report ID`` prints the funnel and
writes an HTML report with charts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def register(sub) -> None:
    parser = sub.add_parser("campaign", help="upgrade-nudge campaigns: preview, run, pause, resume, status, report")
    csub = parser.add_subparsers(dest="campaign_command", metavar="ACTION")
    csub.required = True
    p = csub.add_parser("preview", help="audience per arm and a sample; sends nothing")
    p.add_argument("file")
    p.add_argument("--sample", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run, action="preview")
    p = csub.add_parser("run", help="plan the audience and send the nudges at the campaign's rate")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="count what would be sent now; write and send nothing")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run, action="run")
    for name, text in (("pause", "stop sending (calls in hand finish); resume continues"),
                       ("resume", "continue a paused or interrupted campaign"),
                       ("status", "send states of a campaign")):
        p = csub.add_parser(name, help=text)
        p.add_argument("id")
        if name == "resume":
            p.add_argument("--no-progress", action="store_true")
            p.add_argument("--resend-unknown-after", type=float, default=None, metavar="MINUTES",
                           help="also send the sends a crash left unknown that no Meta status confirmed for this "
                                "long (statuses arrive within seconds; 10 is safe)")
        p.set_defaults(func=_run, action=name)
    p = csub.add_parser("report", help="funnel per arm, uplift over the holdout, HTML report with charts")
    p.add_argument("id")
    p.add_argument("--out", default=None, help="directory for the HTML report (default: state dir/reports)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run, action="report")


def _run(args: argparse.Namespace) -> int:
    from campaigns.definition import CampaignError
    from config.settings import SettingsError, load_settings

    try:
        settings = load_settings()
        return asyncio.run(_action(settings, args))
    except (SettingsError, CampaignError) as exc:
        print(f"gridworks: {exc}", file=sys.stderr)
        return 2


def mask(key: str) -> str:
    """A user key for an operator's screen: enough to tell users apart, not a dialable number."""
    return key[:4] + "•" * max(0, len(key) - 7) + key[-3:] if len(key) > 7 else key


async def _action(settings, args) -> int:
    from bot.campaigns.env import open_env

    env = await open_env(settings)
    try:
        return await ACTIONS[args.action](env, args)
    finally:
        await env.close()


async def preview(env, args) -> int:
    from campaigns.assign import arm_for
    from campaigns.segment import describe

    c = env.load(args.file)
    now = env.clock.now()
    audience = await env.store.audience(c, now)
    arms: Counter[str] = Counter()
    sample: list[dict[str, Any]] = []
    for key, lang in audience:
        arm = arm_for(c.id, key, c.arms)
        arms[arm.name] += 1
        if len(sample) < args.sample:
            sample.append({"user": mask(key), "language": lang, "arm": arm.name, "template": arm.template})
    out = {"campaign": c.id, "name": c.name, "segment": describe(c.segment), "audience": len(audience),
           "arms": {a.name: {"users": arms[a.name], "weight": a.weight, "template": a.template or "(holdout)"}
                    for a in c.arms},
           "quiet_now": c.policy.quiet(now), "rate": c.policy.rate, "sample": sample}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"campaign {c.id}: {c.name}\nsegment: {out['segment']}\naudience: {len(audience)} users")
    for name, a in out["arms"].items():
        print(f"  {name:10s} {a['users']:>8d}  ({a['weight']:g}%)  {a['template']}")
    print(f"rate {c.policy.rate:g}/s; cap {c.policy.cap_count} per {c.policy.cap_days} days; quiet hours "
          f"{c.policy.quiet_start:%H:%M}–{c.policy.quiet_end:%H:%M} IST{' (now: quiet)' if out['quiet_now'] else ''}")
    for s in sample:
        print(f"  sample {s['user']} {s['language'] or '-':7s} {s['arm']}")
    print("nothing was sent.")
    return 0


async def dry_run(env, c) -> int:
    from campaigns.assign import arm_for
    from campaigns.policy import SendFacts, skip_reason
    from bot.campaigns.store import Recipient

    now = env.clock.now()
    audience = await env.store.audience(c, now)
    reasons: Counter[str] = Counter()
    to_send = [key for key, _ in audience if not arm_for(c.id, key, c.arms).holdout]
    for start in range(0, len(to_send), 2000):
        for r in await env.store.recipients(c, to_send[start:start + 2000], now):
            assert isinstance(r, Recipient)
            why = skip_reason(SendFacts(tier=r.tier, opted_out=r.opted_out, recent_marketing=r.recent_marketing,
                                        suppressed=r.suppressed, address=r.phone or r.bsuid), c.policy)
            reasons[why.value if why else "would_send"] += 1
    quiet = c.policy.quiet(now)
    print(f"dry run of {c.id}: audience {len(audience)}, holdout {len(audience) - len(to_send)}, "
          f"would send {reasons['would_send']}" + (" (but it is quiet hours now: nothing would go until "
                                                     f"{c.policy.quiet_ends(now):%H:%M} IST)" if quiet else ""))
    for why, n in sorted(reasons.items()):
        if why != "would_send":
            print(f"  skipped {why}: {n}")
    print(f"at {c.policy.rate:g}/s that takes about {reasons['would_send'] / c.policy.rate:.0f} s. Nothing was written "
          "or sent.")
    return 0


async def _send(env, c, *, progress_bar: bool, resend_unknown_after: float | None = None) -> int:
    from bot.campaigns.runner import Progress, run

    send, limiter = env.sender()
    progress = Progress()
    bar = None
    if progress_bar and sys.stderr.isatty():
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        bar = Bar(TextColumn(f"[bold]{c.id}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}/s"), TimeElapsedColumn(),
                  TextColumn("ETA"), TimeRemainingColumn(), transient=False)
        task = bar.add_task("send", total=None, rate="—")
        import time as _time

        started = _time.monotonic()
        base: list[int] = []

        def on_change(p: Progress) -> None:
            done = p.sent + p.failed + p.skipped
            if not base:
                base.append(done)
            elapsed = max(1e-6, _time.monotonic() - started)
            bar.update(task, total=p.total, completed=done, rate=f"{(done - base[0]) / elapsed:.1f}")

        progress.on_change = on_change
        bar.start()
    try:
        from datetime import timedelta

        result = await run(env.store, c, send=send, now=env.clock.now, catalog=env.catalog, config=env.config,
                           users=env.users, number_limiter=limiter, progress=progress,
                           resend_unknown_after=None if resend_unknown_after is None
                           else timedelta(minutes=resend_unknown_after))
    finally:
        if bar is not None:
            bar.stop()
    unknown = result.counts.get("unknown", 0)
    why = {"paused": "paused", "quiet": f"quiet hours: resume after {c.policy.quiet_ends(env.clock.now()):%H:%M} IST "
           f"with `gridworks campaign resume {c.id}`"}.get(result.stopped_by or "", "")
    print(f"campaign {c.id}: {result.state}{' (' + why + ')' if why else ''}; sent {result.sent}, failed "
          f"{result.failed}, skipped {result.skipped} in {result.seconds:.1f} s; states {result.counts}")
    if unknown:
        print(f"{unknown} sends were cut by a crash: Meta's statuses confirm those it took; "
              f"`gridworks campaign resume {c.id} --resend-unknown-after 10` sends the rest.")
    return 0


async def run_cmd(env, args) -> int:
    c = env.load(args.file)
    if args.dry_run:
        return await dry_run(env, c)
    state = await env.store.state(c.id)
    if state == "paused":
        print(f"campaign {c.id} is paused: `gridworks campaign resume {c.id}` continues it.", file=sys.stderr)
        return 1
    if state == "done":
        print(f"campaign {c.id} is done: everyone in it was handled once. Use a new id for a new campaign.")
        return 0
    return await _send(env, c, progress_bar=not args.no_progress)


async def pause(env, args) -> int:
    if not await env.store.set_state(args.id, "paused", env.clock.now()):
        print(f"no campaign {args.id!r}", file=sys.stderr)
        return 1
    print(f"campaign {args.id} paused (a running send stops after the calls in hand).")
    return 0


async def resume(env, args) -> int:
    c = await env.stored(args.id)
    if c is None:
        print(f"no campaign {args.id!r}", file=sys.stderr)
        return 1
    if await env.store.state(c.id) == "done":
        print(f"campaign {c.id} is done.")
        return 0
    await env.store.set_state(c.id, "running", env.clock.now())
    return await _send(env, c, progress_bar=not args.no_progress, resend_unknown_after=args.resend_unknown_after)


async def status(env, args) -> int:
    state = await env.store.state(args.id)
    if state is None:
        print(f"no campaign {args.id!r}", file=sys.stderr)
        return 1
    states = await env.store.states(args.id)
    arms = await env.store.arm_sizes(args.id)
    print(json.dumps({"campaign": args.id, "state": state, "arms": dict(arms), "sends": dict(states)}))
    return 0


async def report(env, args) -> int:
    from bot.campaigns.report import as_json, compute, table, write_html
    from bot.campaigns.runner import reconcile_optouts

    c = await env.stored(args.id)
    if c is None:
        print(f"no campaign {args.id!r}", file=sys.stderr)
        return 1
    now = env.clock.now()
    await reconcile_optouts(env.store, c.id, env.users, now)
    funnel, days = await compute(env.store, c, now)
    out = Path(args.out) if args.out else env.settings.secrets.state_dir / "reports"
    path = write_html(c, funnel, days, out, now)
    if args.json:
        print(json.dumps({"campaign": c.id, "arms": as_json(funnel), "html": str(path)}, ensure_ascii=False))
    else:
        print(table(c, funnel))
        print(f"HTML report: {path}")
    return 0


ACTIONS = {"preview": preview, "run": run_cmd, "pause": pause, "resume": resume, "status": status, "report": report}
