"""A campaign over 5,000 simulated users, end to end against the fake Graph API, on PostgreSQL.

Audience == segment (checked against the same rule evaluated in Python over the generated data); arm sizes
within binomial tolerance of 70/15/15; nobody opted out (STOP, Meta's user_preferences, 131050), capped or in
quiet hours gets a nudge; a ``gridworks campaign run`` process SIGKILLed mid-send and resumed sends every
eligible user exactly one nudge (a call cut by the kill is ``unknown`` and never repeated); 131049/131050 are
tried once; delivery statuses (through the real webhook parser and side writer) drive the funnel; a "Start
free trial" tap through the real dispatcher starts the trial and counts as a conversion in its arm.
``GRIDWORKS_CAMPAIGN_USERS`` raises the population (default 5,000); ``GRIDWORKS_CAMPAIGN_REPORT_DIR`` keeps
the HTML report.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.bench.graph_sink import GraphSink
from bot.campaigns import tables as T
from bot.campaigns.env import open_env
from bot.campaigns.report import compute, table, write_html
from bot.campaigns.runner import run
from bot.cluster.side import SideWriter, preference_item, status_item
from bot.stores.sql import messages, users
from bot.whatsapp.client import build_client
from bot.whatsapp.parse import PreferenceUpdate, parse_batch
from campaigns.definition import load
from config.settings import load_settings
from engine.clock import IST, FixedClock
from engine.tables import holdings, trades
from locales.catalog import LANGUAGES
from tests.conftest import PG_URL, _drop_pg_schema, _pg_schema
from tests.support import payloads as p

ROOT = Path(__file__).resolve().parents[2]
N = int(os.environ.get("GRIDWORKS_CAMPAIGN_USERS", "5000"))
START = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
CAMPAIGN = ROOT / "campaigns" / "examples" / "pro_trial.toml"


def population(seed: int = 7):
    """Users with the facts the spec's trigger reads, and the audience the segment must select."""
    rng = random.Random(seed)
    rows, trade_rows, held, private, expected = [], [], [], [], set()
    for i in range(N):
        key = f"9197{i:08d}"
        pro = rng.random() < 0.05
        trial_used, opted = rng.random() < 0.08, rng.random() < 0.06
        profile = "v1.sealed-profile" if pro else (
            '{"consent": {"at": "2026-11-01T10:00:00+05:30"}' + (', "trial_used": true' if trial_used else "")
            + (', "marketing_opt_out": true' if opted else "") + "}")
        rows.append(dict(key=key, phone=key, tier="PRO" if pro else "LITE", language=LANGUAGES[i % 12],
                         profile=profile, created_at=START - timedelta(days=40), updated_at=START))
        n_trades = rng.choice([rng.randint(11, 14), rng.randint(0, 10)])
        for j in range(n_trades):
            trade_rows.append(dict(trade_id=f"T{i}-{j}", seq=len(trade_rows) + 1, order_id=f"O{i}-{j}", account=key,
                                   symbol="TCS", side="BUY", quantity=1, price=350000, product="CNC",
                                   trade_day=date(2026, 11, 2 + j % 20), ch_brokerage=0, ch_stt=0, ch_exchange=0,
                                   ch_sebi=0, ch_stamp=0, ch_gst=0))
        rich = rng.random() < 0.45
        if rich:
            held.append(dict(account=key, symbol="TCS", quantity=30, cost=rng.randint(10_000_000, 30_000_000),
                             realized=0, reserved=0, lots="[]"))
        curious = rng.random() < 0.2
        if curious:
            private.append(dict(wamid=f"wamid.in{i}", direction="in", user_key=key, kind="text",
                                body="is my data private?", created_at=START - timedelta(days=3)))
        if not pro and not trial_used and not opted and (n_trades >= 11) + rich + curious >= 2:
            expected.add(key)
    return rows, trade_rows, held, private, expected


def complete(table, rows):
    """Rows for an engine table with every other required column filled (the facts read only a few)."""
    from sqlalchemy import DateTime, Integer, BigInteger, Boolean

    def default(col):
        kind = col.type
        if isinstance(kind, DateTime):
            return START
        if isinstance(kind, Boolean):
            return False
        return 0 if isinstance(kind, (Integer, BigInteger)) else ""

    need = [c for c in table.columns if not c.nullable and c.default is None and not c.autoincrement is True]
    return [{**{c.name: default(c) for c in need if c.name not in r}, **r} for r in rows]


async def _populate(db, data) -> None:
    rows, trade_rows, held, private, _ = data
    async with db.begin() as conn:
        await conn.execute(insert(users), rows)
        await conn.execute(insert(trades), complete(trades, trade_rows))
        await conn.execute(insert(holdings), complete(holdings, held))
        await conn.execute(insert(messages), private)


def _campaign_run_process(path: Path, settings_env: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, **settings_env, "GRIDWORKS_CLOCK": START.isoformat()}
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "campaign", "run", str(path), "--no-progress"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def test_a_campaign_over_5000_users_end_to_end(tmp_path):
    schema = await _pg_schema()
    sink = await GraphSink().start()
    url = f"{PG_URL.replace('+asyncpg', '')}?options=-csearch_path%3D{schema}"
    settings_env = {"DATABASE_URL": url, "WHATSAPP_GRAPH_URL": sink.url, "WHATSAPP_TOKEN": "EAAtest",
                    "WHATSAPP_PHONE_NUMBER_ID": p.PHONE_NUMBER_ID, "GRIDWORKS_STATE_DIR": str(tmp_path / "state")}
    settings = load_settings(settings_env)
    env = await open_env(settings)
    clock = env.clock = FixedClock(START)
    try:
        data = population()
        await _populate(env.db, data)
        expected = data[4]
        fast = tmp_path / "pro_trial.toml"          # the example campaign at 400 sends/s
        fast.write_text(CAMPAIGN.read_text(encoding="utf-8").replace("rate = 20 ", "rate = 400 "), encoding="utf-8")
        campaign = load(fast, base_policy=env.base_policy)
        assert campaign.policy.rate == 400

        # The audience is the segment, evaluated by the database.
        audience = {key for key, _ in await env.store.audience(campaign, clock.now())}
        assert audience == expected and len(audience) > 1000

        # Quiet hours (22:30 IST): planned, nothing sent.
        clock.set(START.replace(hour=22, minute=30))
        quiet = await run(env.store, campaign, send=env.sender()[0], now=clock.now, catalog=env.catalog,
                          config=env.config, users=env.users)
        assert quiet.stopped_by == "quiet" and sink.sends == 0 and not sink.refused
        clock.set(START)

        # Arms: deterministic, within 4 binomial standard deviations of 70/15/15.
        sizes = await env.store.arm_sizes(campaign.id)
        assert sum(sizes.values()) == len(audience)
        for arm in campaign.arms:
            share = arm.weight / 100
            sd = (len(audience) * share * (1 - share)) ** 0.5
            assert abs(sizes[arm.name] - len(audience) * share) <= 4 * sd, (arm.name, sizes)
        async with env.db.connect() as conn:
            plan = {r.user_key: r for r in await conn.execute(T.sends.select().where(T.sends.c.campaign == campaign.id))}
        nudged = sorted(k for k, r in plan.items() if r.arm != "control")
        rng = random.Random(3)
        picks = rng.sample(nudged, 120)
        stop_words, meta_stop, capped, old_send, limit, stopped = (picks[:20], picks[20:40], picks[40:70],
                                                                  picks[70:80], picks[80:100], picks[100:120])
        # Opt-outs after planning: a STOP in chat, and Meta's user_preferences webhook through the real parser.
        for key in stop_words:
            await env.users.update(key, profile_changes={"marketing_opt_out": True})
        await SideWriter(intake=None, db=env.db, users=env.users, consumer="t").store([preference_item(PreferenceUpdate(wa_id=k, user_id=None, value="stop", at=START))
                            for k in meta_stop])
        # Another campaign's nudge 2 days ago caps these users; one 9 days ago does not.
        async with env.db.begin() as conn:
            await conn.execute(insert(T.sends), [dict(campaign="older", user_key=k, arm="A", state="sent",
                                                      nonce=f"{i:016x}", planned_at=START - timedelta(days=d),
                                                      at=START - timedelta(days=d))
                                                 for i, (k, d) in enumerate([(k, 2) for k in capped]
                                                                            + [(k, 9) for k in old_send])])
        for key in limit:
            sink.fail[key] = 131049
        for key in stopped:
            sink.fail[key] = 131050

        # A real `gridworks campaign run` process, SIGKILLed mid-send ...
        proc = _campaign_run_process(fast, settings_env)
        try:
            for _ in range(3000):
                if sink.sends >= 150:
                    break
                await asyncio.sleep(0.01)
            assert sink.sends >= 150, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "slow"
            proc.send_signal(signal.SIGKILL)
        finally:
            await asyncio.to_thread(proc.wait)
        killed_at = sink.sends
        after_kill = await env.store.states(campaign.id)
        async with env.db.connect() as conn:
            cut = {r.user_key for r in await conn.execute(T.sends.select().where(
                T.sends.c.campaign == campaign.id, T.sends.c.state == "sending"))}
        print("after the kill:", dict(after_kill))
        # Meta's "sent" statuses carry each send's tracker: they confirm the sends the kill cut off.
        writer = SideWriter(intake=None, db=env.db, users=env.users, consumer="t")
        client = build_client(settings.whatsapp)
        accepted = [p.status(w, "sent", recipient="x") | {"biz_opaque_callback_data": t}
                    for w, t in sink.trackers.items()]
        batch = parse_batch(p.envelope(p.statuses_value(accepted)), client)
        assert {s.tracker for s in batch.statuses} == set(sink.trackers.values())
        await writer.store([status_item(s) for s in batch.statuses])
        # ... and resumed here: rows no status confirmed are sent again (a real resume waits ~10 minutes).
        await env.store.set_state(campaign.id, "running", clock.now())
        clock.set(START + timedelta(minutes=15))
        done = await run(env.store, campaign, send=env.sender()[0], now=clock.now, catalog=env.catalog,
                         config=env.config, users=env.users, resend_unknown_after=timedelta(minutes=10))
        assert done.state == "done" and sink.sends > killed_at
        states = await env.store.states(campaign.id)
        async with env.db.connect() as conn:
            final = {r.user_key: r for r in await conn.execute(T.sends.select().where(T.sends.c.campaign == campaign.id))}
        unknown = [k for k, r in final.items() if r.state == "unknown"]
        assert unknown == [] and after_kill["sending"] + after_kill["queued"] > 0, (states, after_kill)
        print(f"killed after {killed_at} sends with {after_kill['sending']} in flight; states now {dict(states)}")
        for key in nudged:
            got = sink.count(key)
            if key in (*stop_words, *meta_stop, *capped):
                assert got == 0 and final[key].state == "skipped", (key, final[key].reason)
            elif key in (*limit, *stopped):
                # tried once (a refusal is no message: one the kill cut off is tried once more on resume)
                assert got == 0 and 1 <= sink.refused[key] <= 1 + (key in cut) and final[key].state == "failed"
            else:
                assert got == 1 and final[key].state == "sent", (key, final[key].state, got)
        assert {final[k].reason for k in capped} == {"capped"}
        assert {final[k].reason for k in (*stop_words, *meta_stop)} == {"opted_out"}
        assert all(sink.count(k) == 0 for k, r in plan.items() if r.arm == "control")
        assert sum(sink.count(k) for k in audience) == sink.sends        # nobody outside the audience
        stopped_now = [await env.users.get(k) for k in stopped]
        assert all(u.profile.get("marketing_opt_out") for u in stopped_now)   # 131050 recorded as opt-out

        # Statuses from Meta's webhooks drive the funnel: delivered, read, an asynchronous 131049.
        sent = [(k, r.wamid) for k, r in final.items() if r.state == "sent"]
        statuses = [p.status(w, "delivered", recipient=k) for k, w in sent[: len(sent) * 9 // 10]]
        statuses += [p.status(w, "read", recipient=k) for k, w in sent[: len(sent) // 2]]
        statuses += [p.status(w, "failed", recipient=k, error=(131049, "healthy ecosystem"))
                     for k, w in sent[-3:]]
        batch = parse_batch(p.envelope(p.statuses_value(statuses)), client)
        assert len(batch.statuses) == len(statuses)
        await writer.store([status_item(s) for s in batch.statuses])
        rank = {"delivered": 1, "read": 2, "failed": 3}
        final_status: dict[str, str] = {}
        for st in statuses:
            if rank[st["status"]] > rank.get(final_status.get(st["id"], ""), 0):
                final_status[st["id"]] = st["status"]

        # "Start free trial" through the real dispatcher converts in the arm.
        from bot.app import build_runtime

        runtime = await build_runtime(settings, clock=clock, with_receipts=False)
        try:
            tappers = [k for k, r in final.items() if r.state == "sent" and r.arm == "A"][:5]
            for key in tappers:
                msg = parse_batch(p.envelope(p.messages_value(
                    [p.template_button(key, f"nudge_trial:{final[key].nonce}", "Start free trial")],
                    [p.contact(key)])), client).messages[0]
                result = await runtime.dispatcher.handle(msg)
                assert "🎉" in result.replies[0].body
                assert (await env.users.get(key)).tier.value == "PRO"
        finally:
            await runtime.close()

        funnel, days = await compute(env.store, campaign, clock.now())
        arms = {f.arm: f for f in funnel}
        a, b, control = arms["A"], arms["B"], arms["control"]
        assert a.counts["trial"] == 5 and a.converted == 5 and b.converted == 0 and control.converted == 0
        assert a.counts["tapped"] == 5 and a.uplift is not None and a.uplift.diff > 0
        assert a.counts["delivered"] + b.counts["delivered"] == sum(
            1 for v in final_status.values() if v in ("delivered", "read"))
        assert a.counts["read"] + b.counts["read"] == sum(1 for v in final_status.values() if v == "read")
        failed_codes = a.failed_by_code + b.failed_by_code
        assert failed_codes["131049"] == 20 + 3 and failed_codes["131050"] == 20
        assert control.counts["sent"] == 0 and control.counts["targeted"] == sizes["control"]
        report_dir = Path(os.environ.get("GRIDWORKS_CAMPAIGN_REPORT_DIR") or tmp_path / "report")
        page = write_html(campaign, funnel, days, report_dir, clock.now())
        assert "uplift" in page.read_text(encoding="utf-8")
        assert (report_dir / "funnel.png").stat().st_size > 5000 and (report_dir / "conversion.png").exists()
        print(table(campaign, funnel))
    finally:
        await env.close()
        await sink.stop()
        await _drop_pg_schema(schema)
