"""Scripted conversation tests: ``gridworks simulate FILE.yml``.

A script is a list of steps (``say`` / ``tap`` / ``send_file``, optional ``at``, ``as``) each with
expectations on the turn's trace. Every mismatch is reported as ``step N (say "…"): field: expected X,
got Y``; the command exits non-zero when any step fails. The project's own conversation tests use it.

```yaml
name: buy with confirmation
user: "919800000001"
at: "2026-11-23T10:00:00+05:30"
steps:
  - say: buy 10 TCS at market
    expect: {intent: buy, entities: {symbol: TCS, quantity: 10}, awaiting: confirmation,
             buttons: [Confirm, Cancel]}
  - tap: 1                      # 1-based option of the last reply with buttons/rows, or an id / title
    expect: {orders: [{symbol: TCS, status: COMPLETE}], reply: ["bought"]}
  - tick: "2026-11-24T15:00:00+05:30"     # time passes while the user is silent: only pushes happen
    expect: {notifications: ["filled"], templates: [gw_order_fill]}   # outside the 24-hour window
  - agent: reply                # the operator's side of a handoff (``gridworks handoff reply``) …
    text: "Hello, this is Meera from GridWorks"
    expect: {notifications: ["Meera"]}
  - agent: release              # … and ``gridworks handoff release``
```

``templates`` lists the template names the step's pushes must include; ``templates: []`` says every push
is free text (inside the 24-hour window); ``free_pushes: 0`` says none is (outside it, only templates may go);
``notifications_not`` is text no push may contain. ``agent`` steps act as an operator would; they fail when the user
is not handed off, as the CLI does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.console import ConsoleChannel

KNOWN_EXPECT = {"intent", "lang", "entities", "reply", "reply_not", "buttons", "rows", "awaiting", "orders",
                "status", "document", "reply_count", "notifications", "confidence_min", "templates",
                "notifications_not", "free_pushes"}


@dataclass
class ScriptReport:
    name: str
    steps: int = 0
    failures: list[str] = field(default_factory=list)
    traces: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _texts(trace: dict[str, Any]) -> list[str]:
    out = []
    for r in trace.get("replies", []):
        out.append(r.get("text") or "")
        out.extend(b.get("title", "") for b in r.get("buttons", []) or [])
        out.extend(f"{row.get('title', '')} {row.get('description') or ''}" for row in r.get("rows", []) or [])
    return out


def _options(trace: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not trace:
        return []
    for r in reversed(trace.get("replies", [])):
        if r.get("buttons"):
            return r["buttons"]
        if r.get("rows"):
            return r["rows"]
    return []


def resolve_tap(value: Any, last: dict[str, Any] | None) -> str:
    """A tap is a 1-based option number, an exact id, a title (case-insensitive) or an id prefix."""
    options = _options(last)
    if isinstance(value, int):
        if not 1 <= value <= len(options):
            raise ValueError(f"tap {value}: the last reply has {len(options)} options")
        return options[value - 1]["id"]
    value = str(value)
    for opt in options:
        if opt["id"] == value:
            return value
    for opt in options:
        if opt.get("title", "").casefold() == value.casefold():
            return opt["id"]
    for opt in options:
        if opt["id"].startswith(value):
            return opt["id"]
    return value


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, float) or isinstance(actual, float):
        try:
            return abs(float(expected) - float(actual)) < 1e-6
        except (TypeError, ValueError):
            return False
    return expected == actual


def check(expect: dict[str, Any], trace: dict[str, Any]) -> list[str]:
    """Human-readable differences between ``expect`` and one trace line."""
    problems: list[str] = []
    unknown = set(expect) - KNOWN_EXPECT
    if unknown:
        problems.append(f"unknown expectation keys {sorted(unknown)}")
    for key in ("intent", "lang", "status"):
        if key in expect and trace.get(key) != expect[key]:
            problems.append(f"{key}: expected {expect[key]!r}, got {trace.get(key)!r}")
    if "awaiting" in expect and trace.get("awaiting") != expect["awaiting"]:
        problems.append(f"awaiting: expected {expect['awaiting']!r}, got {trace.get('awaiting')!r}")
    if "confidence_min" in expect and (trace.get("confidence") or 0) < expect["confidence_min"]:
        problems.append(f"confidence: expected ≥ {expect['confidence_min']}, got {trace.get('confidence')}")
    if "entities" in expect and not _subset(expect["entities"], trace.get("entities", {})):
        problems.append(f"entities: expected ⊇ {expect['entities']!r}, got {trace.get('entities')!r}")
    texts = _texts(trace)
    joined = "\n".join(texts).casefold()
    for needle in _as_list(expect.get("reply")):
        if str(needle).casefold() not in joined:
            problems.append(f"reply: expected text containing {needle!r}, got {texts!r}")
    for needle in _as_list(expect.get("reply_not")):
        if str(needle).casefold() in joined:
            problems.append(f"reply_not: {needle!r} should not appear, got {texts!r}")
    if "reply_count" in expect and len(trace.get("replies", [])) != expect["reply_count"]:
        problems.append(f"reply_count: expected {expect['reply_count']}, got {len(trace.get('replies', []))}")
    for key, field_name in (("buttons", "buttons"), ("rows", "rows")):
        if key in expect:
            titles = [o.get("title") for r in trace.get("replies", []) for o in (r.get(field_name) or [])]
            want = _as_list(expect[key])
            if isinstance(expect[key], int):
                if len(titles) != expect[key]:
                    problems.append(f"{key}: expected {expect[key]} options, got {titles!r}")
            elif titles[: len(want)] != want:
                problems.append(f"{key}: expected {want!r}, got {titles!r}")
    if "orders" in expect:
        actual = trace.get("orders", [])
        want = _as_list(expect["orders"])
        if len(want) == 0 and actual:
            problems.append(f"orders: expected none, got {actual!r}")
        for item in want:
            if not any(_subset(item, order) for order in actual):
                problems.append(f"orders: expected one matching {item!r}, got {actual!r}")
    if "document" in expect:
        docs = [r for r in trace.get("replies", []) if r.get("type") == "document"]
        if bool(docs) != bool(expect["document"]):
            problems.append(f"document: expected {'a' if expect['document'] else 'no'} document, got {docs!r}")
    if "notifications" in expect:
        notes = "\n".join(r.get("text") or "" for n in trace.get("notifications", []) for r in n["replies"])
        for needle in _as_list(expect["notifications"]):
            if str(needle).casefold() not in notes.casefold():
                problems.append(f"notifications: expected text containing {needle!r}, got {notes!r}")
    for needle in _as_list(expect.get("notifications_not")):
        notes = "\n".join(r.get("text") or "" for n in trace.get("notifications", []) for r in n["replies"])
        if str(needle).casefold() in notes.casefold():
            problems.append(f"notifications_not: {needle!r} should not appear, got {notes!r}")
    if "free_pushes" in expect:
        free = [r["type"] for n in trace.get("notifications", []) for r in n["replies"] if r["type"] != "template"]
        if len(free) != expect["free_pushes"]:
            problems.append(f"free_pushes: expected {expect['free_pushes']} non-template pushes, got {free!r}")
    if "templates" in expect:
        names = [r.get("name") for n in trace.get("notifications", []) for r in n["replies"] if r["type"] == "template"]
        want = _as_list(expect["templates"])
        if not want and names:
            problems.append(f"templates: expected free text only, got templates {names!r}")
        for name in want:
            if name not in names:
                problems.append(f"templates: expected {name!r} among the pushes, got {names!r}")
    return problems


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def run_script(path: Path, channel: ConsoleChannel) -> ScriptReport:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    report = ScriptReport(name=spec.get("name") or path.stem)
    default_user = str(spec.get("user", "919800000001"))
    name = spec.get("profile_name")
    at = _when(spec.get("at"))
    last: dict[str, dict[str, Any]] = {}
    for index, step in enumerate(spec.get("steps") or [], start=1):
        user = str(step.get("as", default_user))
        when = _when(step.get("at")) or (at if index == 1 else None)
        if "say" in step:
            label = f'say "{step["say"]}"'
            trace = await channel.turn(user, text=str(step["say"]), name=name, at=when)
        elif "tap" in step:
            try:
                payload = resolve_tap(step["tap"], last.get(user))
            except ValueError as exc:       # a tap the last reply does not offer: this script fails, not the run
                report.failures.append(f"step {index}: {exc}")
                break
            label = f"tap {step['tap']!r} → {payload}"
            trace = await channel.turn(user, button=payload, name=name, at=when)
        elif "send_file" in step:
            try:
                file_path = Path(step["send_file"]) if not str(step["send_file"]).startswith("$last_document") \
                    else Path(_last_document(last.get(user)))
                content = file_path.read_bytes()
            except (ValueError, OSError) as exc:
                report.failures.append(f"step {index}: {exc}")
                break
            label = f"send_file {file_path.name}"
            trace = await channel.turn(user, text=step.get("caption"), name=name, at=when,
                                       document=(file_path.name, content))
        elif "tick" in step:               # time passes with no message: the trace is what was pushed
            label = f"tick {step['tick']}"
            trace = await _tick(channel, _when(step["tick"]) or when)
        elif "agent" in step:
            label = f"agent {step['agent']}"
            try:
                trace = await _agent(channel, user, str(step["agent"]), step.get("text"))
            except ValueError as exc:
                report.failures.append(f"step {index} ({label}): {exc}")
                break
        elif "campaign" in step:             # run a campaign; the trace is the nudge this user received
            from bot.campaigns.console import campaign_step

            label = f"campaign {step['campaign']}"
            trace = await campaign_step(channel, user, step["campaign"], at=when)
        else:
            report.failures.append(f"step {index}: needs say, tap, send_file, tick, agent or campaign")
            continue
        report.steps += 1
        _as_seen(trace)
        report.traces.append(trace)
        last[user] = trace
        for problem in check(step.get("expect") or {}, trace):
            report.failures.append(f"step {index} ({label}): {problem}")
    return report


def _as_seen(trace: dict[str, Any]) -> None:
    """A pushed template reads as WhatsApp shows it: the body registered with Meta (``bot/whatsapp/templates``,
    in the template's Meta locale) filled with the sent parameters, not our free-text rendering. A template
    not registered there keeps its text and is marked ``registered: false``."""
    from bot.whatsapp.templates import BY_NAME, TEXT_SOURCE, meta_locale, render
    from locales.catalog import load_catalog

    for note in trace.get("notifications", []):
        for r in note["replies"]:
            if r.get("type") != "template":
                continue
            tpl = BY_NAME.get(r.get("name"))
            r["registered"] = tpl is not None
            if tpl is not None and len(r.get("params", [])) == len(tpl.params):
                r["text"] = render(load_catalog(), tpl, TEXT_SOURCE[meta_locale(r.get("language"))],
                                   dict(zip(tpl.params, r["params"])))


def _pushed(channel: ConsoleChannel, trace: dict[str, Any]) -> dict[str, Any]:
    pushed = channel.messenger.drain()
    if pushed:
        trace["notifications"] = [{"to": key, "replies": channel.render(rs)} for key, rs in pushed.items()]
    return trace


async def _tick(channel: ConsoleChannel, when: datetime | None) -> dict[str, Any]:
    """Move the clock (when given) and run the runtime's tick, as the scheduler does between messages."""
    clock = channel.runtime.clock
    if when is not None and hasattr(clock, "set"):
        clock.set(when)
    await channel.runtime.tick()
    return _pushed(channel, {"replies": [], "orders": [], "status": "tick"})


async def _agent(channel: ConsoleChannel, user_key: str, action: str, text: Any) -> dict[str, Any]:
    """An operator's ``gridworks handoff reply|release`` for this script's user, through the channel's push."""
    from handlers import handoff

    services = channel.runtime.services
    user = await services.users.find(user_key)
    if user is None or handoff.handoff_state(user) is None:
        raise ValueError(f"{user_key} is not handed off")
    t = services.catalog.translator(user.language or "en")
    if action == "reply":
        replies = handoff.agent_replies(t, str(text or ""))
    elif action == "release":
        replies = await handoff.hand_back(services.users, user, t)
    else:
        raise ValueError(f"agent: {action!r} is not reply or release")
    await channel.messenger.push(user, replies)
    return _pushed(channel, {"replies": [], "orders": [], "status": "agent"})


def _last_document(trace: dict[str, Any] | None) -> str:
    for r in (trace or {}).get("replies", []):
        if r.get("type") == "document" and r.get("path"):
            return r["path"]
    raise ValueError("$last_document: the previous turn sent no document")


def format_report(report: ScriptReport) -> str:
    head = f"{'PASS' if report.ok else 'FAIL'} {report.name}: {report.steps} steps"
    if report.ok:
        return head
    return head + "\n" + "\n".join(f"  - {f}" for f in report.failures) + "\n  last trace: " + json.dumps(
        report.traces[-1] if report.traces else {}, ensure_ascii=False)
