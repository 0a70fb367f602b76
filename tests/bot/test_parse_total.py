"""Webhook bodies are read item by item and totally: ``load_body`` turns any bytes into a dict or ``BadBody``;
``parse_batch`` turns any JSON object into a batch, a malformed item into a ``RejectedItem``, and never loses
a valid message because of the item beside it.

The fuzzer starts from a real, valid envelope (tests/support/payloads.py) and mutates it at every level:
type swaps, deletions, wrapping, insertions, duplicates, huge strings, deep nesting, unicode, non-string ids.
An independent census of the mutated body says how many items a correct parser must account for.

Bounded in CI (300 bodies); ``GRIDWORKS_FUZZ_EXAMPLES=20000 python -m pytest -q tests/bot/test_parse_total.py``
is the full-size run and prints its figures.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.whatsapp import body as body_mod
from bot.whatsapp import parse as parse_mod
from bot.whatsapp.body import MAX_DEPTH, BadBody, load_body, nesting_depth
from bot.whatsapp.client import build_client
from bot.whatsapp.parse import ParsedBatch, RateLimitedLog, RejectedItem, parse_batch
from config.settings import WhatsAppConfig
from handlers.messages import InboundMessage, MessageKind
from tests.support import payloads as p

FUZZ_EXAMPLES = int(os.environ.get("GRIDWORKS_FUZZ_EXAMPLES", "0") or 0)
EXAMPLES = FUZZ_EXAMPLES or 300

A, B, C, D = "919800000001", "919800000002", "919800000003", "919800000004"
BSUID_ONLY = "IN.000000000000000777"


_CLIENT = build_client(WhatsAppConfig(app_secret=p.APP_SECRET, token="EAAtoken",
                                      phone_number_id=p.PHONE_NUMBER_ID, graph_url="http://127.0.0.1:9"))


@pytest.fixture
def client():
    return _CLIENT


@pytest.fixture(autouse=True)
def fresh_rejection_log(monkeypatch):
    """Each test starts with an empty log limiter (lines suppressed by an earlier test would hide its own)."""
    monkeypatch.setattr(parse_mod, "rejection_log", RateLimitedLog())


# ------------------------------------------------------------------------------------------ the envelope

def valid_body() -> dict[str, Any]:
    """Every kind of item Meta sends us, all valid: 7 messages in two changes, 2 statuses, 1 preference."""
    no_phone = p.text(None, "from a username user", bsuid=BSUID_ONLY)
    doc = p.message(D, "document", {"filename": "cas.pdf", "mime_type": "application/pdf", "sha256": "abc",
                                    "id": "77", "caption": "my CAS"})
    body = p.envelope(
        p.messages_value([p.text(A, "buy 10 TCS"), p.button_reply(B, "confirm:o1:n1", "Confirm"),
                          p.list_reply(C, "cancel:o9", "TCS"), p.template_button(D, "alert:x", "OK")],
                         [p.contact(A), p.contact(B), p.contact(C), p.contact(D)]),
        p.messages_value([p.image(A), doc, no_phone],
                         [p.contact(A), p.contact(D), {"profile": {"name": "U"}, "user_id": BSUID_ONLY}]),
        p.statuses_value([p.status("wamid.out1", "delivered"), p.status("wamid.out2", "failed",
                                                                         error=(131026, "Undeliverable"))]),
    )
    body["entry"].append({"id": "WABA1", "changes": [{"field": "user_preferences", "value": {
        "user_preferences": [{"wa_id": A, "category": "marketing_messages", "value": "stop",
                              "timestamp": "1795400000"}]}}]})
    return body


def message_dicts(body: dict) -> list[dict]:
    return [m for e in body["entry"] for c in e["changes"] for m in c["value"].get("messages", ())]


# ------------------------------------------------------------------------------------------ mutations

HUGE_DIGITS = "9" * 1_000_000
HUGE_TEXT = "नमस्ते 🙂 " * 50_000
STRINGS = ["", " ", "text", "interactive", "button", "button_reply", "list_reply", "image", "document",
           "reaction", "location", "unsupported", "stop", "resume", "user_preferences", "messages", "failed",
           "read", "wamid.HBgM0000000001", A, BSUID_ONLY, "\ud800", "\x00", "🙂", "नमस्ते", "[[[[{{", '"\\',
           "1795400000", "-5", "1e9", " 1795400000 ", "0x10", "٣٤٥", "NaN", "null", "x" * 300]
KEYS = ["id", "from", "from_user_id", "type", "text", "body", "timestamp", "context", "interactive",
        "button_reply", "list_reply", "button", "payload", "title", "contacts", "user_id", "wa_id", "profile",
        "name", "messages", "statuses", "status", "errors", "code", "recipient_id", "field", "value", "entry",
        "changes", "metadata", "user_preferences", "image", "document", "caption"]


def nested(depth: int, leaf: Any = 0, dicts: bool = False) -> Any:
    for _ in range(depth):
        leaf = {"a": leaf} if dicts else [leaf]
    return leaf


def weird(r: random.Random) -> Any:
    pick = r.randrange(16)
    if pick == 0:
        return r.choice([None, True, False])
    if pick == 1:
        return r.choice([0, -1, 1, 1795400000, 2**31, 2**63, 10**30, -10**30, 10**400])
    if pick == 2:
        return r.choice([float("inf"), float("-inf"), float("nan"), 1.5, -0.0, 1e308, 1795400000.7])
    if pick in (3, 4, 5):
        return r.choice(STRINGS)
    if pick == 6:
        return "".join(chr(r.randrange(0x110000)) for _ in range(r.randrange(1, 40)))
    if pick == 7:
        return r.choice([HUGE_DIGITS, HUGE_TEXT, "x" * r.randrange(200, 5000)])
    if pick == 8:
        return r.choice([[], {}, [None], [{}], {"": None}])
    if pick == 9:
        return nested(r.randrange(1, 300), dicts=r.random() < 0.5)
    if pick == 10:
        return [weird(r) for _ in range(r.randrange(1, 4))] if r.random() < 0.7 else list(range(1000))
    if pick == 11:
        return {r.choice(KEYS): weird(r) for _ in range(r.randrange(1, 4))}
    if pick == 12:   # a message-shaped item with one thing wrong
        m = p.text(A, "x")
        m[r.choice(list(m))] = r.choice([None, 5, [], {}, "", HUGE_DIGITS])
        return m
    if pick == 13:
        return p.text(None, "no sender", bsuid=None) | {"from_user_id": None}
    if pick == 14:
        return r.choice([p.status("wamid.z", "read") | {"id": 7}, {"status": "read"}, {"id": "wamid.q"}])
    return r.choice(["wamid." + "A" * 1000, 12345, ["wamid.list"], {"id": "x"}])


def swap(value: Any, r: random.Random) -> Any:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, str):
        return int(value) if value.isdigit() and len(value) < 300 else [value]
    if isinstance(value, bool) or value is None:
        return {}
    if isinstance(value, (int, float)):
        return str(value)
    return weird(r)


def containers(root: Any) -> list[tuple[list, Any, Any]]:
    """Every (path of containers from the root, parent, key) of the body, iteratively."""
    out: list[tuple[list, Any, Any]] = []
    stack: list[tuple[list, Any]] = [([], root)]
    while stack:
        chain, node = stack.pop()
        if isinstance(node, dict):
            children = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        else:
            continue
        here = chain + [node]
        for key, child in children:
            out.append((here, node, key))
            if isinstance(child, (dict, list)) and len(here) < 40:
                stack.append((here, child))
    return out


def mutate(body: dict, r: random.Random, touched: set[int]) -> list[str]:
    """1–4 random mutations of ``body`` in place; every container they touch is added to ``touched``."""
    done = []
    for _ in range(r.randint(1, 4)):
        places = containers(body)
        if not places:
            break
        chain, parent, key = places[r.randrange(len(places))]
        target = parent[key]
        touched.update(id(x) for x in chain)
        touched.add(id(target))
        op = r.choice(["replace", "replace", "delete", "wrap", "swap", "insert", "duplicate"])
        if op == "replace":
            parent[key] = weird(r)
        elif op == "delete":
            del parent[key]
        elif op == "wrap":
            parent[key] = [target] if r.random() < 0.5 else {"value": target}
        elif op == "swap":
            parent[key] = swap(target, r)
        elif op == "insert" and isinstance(target, list):
            target.insert(r.randint(0, len(target)), weird(r))
        elif op == "insert" and isinstance(target, dict):
            target[r.choice(KEYS)] = weird(r)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(r.randint(0, len(parent)), target)
        else:
            parent[key] = weird(r)
        done.append(op)
    return done


# ------------------------------------------------------------------------------------------ the oracle

def census(body: Any) -> tuple[Counter, list[dict]]:
    """How many items of each kind a correct parser must account for (accepted + rejected), how many broken
    containers it must report (kind "entry"), and the message dicts reachable where messages belong."""
    need: Counter = Counter()
    reachable: list[dict] = []
    if not isinstance(body, dict):
        need["entry"] += 1
        return need, reachable
    entries = body.get("entry")
    if entries is None:
        return need, reachable
    if not isinstance(entries, list):
        need["entry"] += 1
        return need, reachable
    for entry in entries:
        if not isinstance(entry, dict):
            need["entry"] += 1
            continue
        changes = entry.get("changes")
        if changes is None:
            continue
        if not isinstance(changes, list):
            need["entry"] += 1
            continue
        for change in changes:
            if not isinstance(change, dict):
                need["entry"] += 1
                continue
            value = change.get("value")
            if value is None:
                continue
            if not isinstance(value, dict):
                need["entry"] += 1
                continue
            lists = ([("user_preferences", "preference")] if change.get("field") == "user_preferences"
                     else [("messages", "message"), ("statuses", "status")])
            for key, kind in lists:
                items = value.get(key)
                if items is None:
                    continue
                if not isinstance(items, list):
                    need["entry"] += 1
                    continue
                need[kind] += len(items)
                if kind == "message":
                    reachable += [m for m in items if isinstance(m, dict)]
    return need, reachable


FIXED_REASONS = {
    "body is not an object", "entry is not a list", "entry item is not an object", "changes is not a list",
    "change is not an object", "value is not an object", "messages is not a list", "statuses is not a list",
    "user_preferences is not a list", "not an object", "bad id", "bad from", "bad from_user_id", "no sender",
    "bad type", "bad text body", "bad text content", "bad button content", "bad interactive content",
    "bad button_reply content", "bad list_reply content", "bad document content", "bad image content",
    "bad audio content", "bad video content", "bad sticker content", "bad button id", "bad status",
    "bad wa_id", "bad user_id", "no user", "bad value",
}


def check_batch(batch: ParsedBatch, body: Any, originals: list[dict], touched: set[int]) -> int:
    """The properties of one parsed body; returns how many valid messages were lost (must be 0)."""
    assert isinstance(batch, ParsedBatch)
    need, reachable = census(body)
    kinds = Counter(r.kind for r in batch.rejected)
    assert len(batch.messages) + kinds["message"] == need["message"]
    assert len(batch.statuses) + kinds["status"] == need["status"]
    assert len(batch.preferences) + kinds["preference"] == need["preference"]
    assert kinds["entry"] == need["entry"]
    for r in batch.rejected:
        assert isinstance(r, RejectedItem) and r.reason in FIXED_REASONS, r
        assert r.item_id is None or (isinstance(r.item_id, str) and 0 < len(r.item_id) <= 256)
    for m in batch.messages:
        assert isinstance(m, InboundMessage) and isinstance(m.id, str) and isinstance(m.sender.key, str)
        assert m.text is None or isinstance(m.text, str)
        assert m.payload is None or isinstance(m.payload, str)
        assert m.timestamp.tzinfo is not None
    for s in batch.statuses:
        assert isinstance(s.wamid, str) and isinstance(s.status, str)
        assert s.error_code is None or isinstance(s.error_code, int)
    for x in batch.preferences:
        assert x.value in ("stop", "resume") and (x.wa_id or x.user_id)
    intact = {id(m) for m in originals} - touched
    returned = Counter(m.id for m in batch.messages)
    expected = [m["id"] for m in reachable if id(m) in intact]
    return sum(1 for mid in expected if not returned[mid])


def fuzz_one(parse: Callable[[Any, Any], ParsedBatch], client: Any, r: random.Random,
             stats: Counter) -> None:
    body = valid_body()
    originals = message_dicts(body)
    touched: set[int] = set()
    mutate(body, r, touched)
    stats["bodies"] += 1
    try:
        batch = parse(body, client)
    except Exception:
        stats["exceptions"] += 1
        raise
    lost = check_batch(batch, body, originals, touched)
    stats["lost_valid_messages"] += lost
    stats["messages"] += len(batch.messages)
    stats["rejected"] += len(batch.rejected)
    stats["bodies_with_rejections"] += bool(batch.rejected)
    assert lost == 0


def test_the_valid_envelope_parses_whole(client):
    body = valid_body()
    batch = parse_batch(body, client)
    assert [m.id for m in batch.messages] == [m["id"] for m in message_dicts(body)]
    assert [m.kind for m in batch.messages] == [MessageKind.TEXT, MessageKind.BUTTON, MessageKind.LIST,
                                                MessageKind.BUTTON, MessageKind.MEDIA, MessageKind.DOCUMENT,
                                                MessageKind.TEXT]
    assert batch.messages[-1].sender.key == BSUID_ONLY and batch.messages[-1].sender.phone is None
    assert len(batch.statuses) == 2 and len(batch.preferences) == 1 and batch.rejected == ()
    assert check_batch(batch, body, message_dicts(body), set()) == 0


def test_fuzzed_bodies_never_raise_and_lose_no_valid_neighbour(client, capsys):
    stats: Counter = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.randoms(use_true_random=False))
    def run(r: random.Random) -> None:
        fuzz_one(parse_batch, client, r, stats)

    started = time.perf_counter()
    run()
    assert stats["exceptions"] == 0 and stats["lost_valid_messages"] == 0
    assert stats["bodies_with_rejections"] > 0, "the mutations reach the items"
    if FUZZ_EXAMPLES:
        with capsys.disabled():
            print(f"\nparse_batch fuzz: bodies={stats['bodies']} exceptions={stats['exceptions']} "
                  f"lost_valid_messages={stats['lost_valid_messages']} messages={stats['messages']} "
                  f"rejected={stats['rejected']} bodies_with_rejections={stats['bodies_with_rejections']} "
                  f"({time.perf_counter() - started:.1f}s)")


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.randoms(use_true_random=False))
def test_fuzzed_bodies_through_bytes(r):
    """What the webhook does: bytes → load_body → parse_batch. Either BadBody or a batch, nothing else."""
    body = valid_body()
    mutate(body, r, set())
    # ensure_ascii=False keeps lone surrogates raw: surrogatepass turns them into bytes that are not UTF-8
    raw = json.dumps(body, ensure_ascii=r.random() < 0.5).encode("utf-8", "surrogatepass")
    try:
        loaded = load_body(raw)
    except BadBody:
        return
    assert isinstance(parse_batch(loaded, _CLIENT), ParsedBatch)


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(st.randoms(use_true_random=False), st.sampled_from(["junk", "mutated"]))
def test_a_valid_message_beside_a_broken_one_is_kept(r, how):
    good = p.text(A, "keep me")
    if how == "junk":
        broken = weird(r)
    else:
        broken = p.button_reply(B, "confirm:o1:n1", "Confirm")
        mutate(broken, r, set())
    msgs = [broken, good] if r.random() < 0.5 else [good, broken]
    batch = parse_batch(p.envelope(p.messages_value(msgs, [p.contact(A), p.contact(B)])), _CLIENT)
    assert good["id"] in [m.id for m in batch.messages]
    assert len(batch.messages) + len(batch.rejected) == 2


def test_sweep_figures(client, capsys):
    """A deterministic sweep (seeds 0..N-1) with the figures printed (300 in CI; the full run sets N)."""
    stats: Counter = Counter()
    failures: Counter = Counter()
    started = time.perf_counter()
    for seed in range(EXAMPLES):
        try:
            fuzz_one(parse_batch, client, random.Random(seed), stats)
        except Exception as exc:  # noqa: BLE001 - counted, then the test fails
            failures[type(exc).__name__] += 1
    with capsys.disabled():
        print(f"\nparse_batch sweep: bodies={stats['bodies']} exceptions={stats['exceptions']} "
              f"property_failures={sum(failures.values())} lost_valid_messages={stats['lost_valid_messages']} "
              f"messages={stats['messages']} rejected={stats['rejected']} "
              f"bodies_with_rejections={stats['bodies_with_rejections']} "
              f"({time.perf_counter() - started:.1f}s)")
    assert not failures and stats["exceptions"] == 0


# ------------------------------------------------------------------------------------------ load_body

def test_a_100000_deep_body_is_refused_before_json_parses_it(monkeypatch):
    class NoDecode:
        def decode(self, _text):
            raise AssertionError("the depth scan must refuse the body before json parses it")

    monkeypatch.setattr(body_mod, "_DECODER", NoDecode())
    for raw in (b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                b'{"entry":' + b"[[]" * 100_000):
        with pytest.raises(BadBody) as err:
            load_body(raw)
        assert err.value.reason in (f"nested deeper than {MAX_DEPTH}", "not JSON")


def test_a_deep_body_is_bad_body_not_recursion_error():
    for n in (65, 1_000, 10_000, 100_000, 1_000_000):
        with pytest.raises(BadBody):
            load_body(b'{"entry":' + b"[" * n + b"]" * n + b"}")


@pytest.mark.parametrize("pad", [0, 10_000])   # small bodies count brackets first, big ones scan at once
def test_the_depth_bound_is_exact(pad):
    head = b'{"pad":"' + b"x" * pad + b'","a":'
    assert load_body(head + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}")["a"] == nested(
        MAX_DEPTH - 2, leaf=[])
    with pytest.raises(BadBody, match="nested deeper"):
        load_body(head + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}")


@pytest.mark.parametrize("extra", [0, 20])
def test_brackets_and_quotes_a_user_typed_do_not_count(extra):
    texty = '[[[[{{{{' * 100 + '\\"]]]" \\\\ [[[\\\\\\"'
    more = [p.text(C, "]]]] " * i) for i in range(extra)]
    body = p.envelope(p.messages_value([p.text(A, texty), p.text(B, "[" * 5000), *more], [p.contact(A)]))
    for raw in (p.raw(body), json.dumps(body).encode(), json.dumps(body, indent=2).encode()):  # \uXXXX too
        assert raw.count(b"[") > 5000
        assert load_body(raw) == body


@pytest.mark.parametrize("raw, reason", [
    (b"", "not JSON"), (b"   ", "not JSON"), (b"{", "not JSON"), (b'{"a":1} x', "not JSON"),
    (b"[1, 2]", "top level is not an object"), (b'"x"', "top level is not an object"),
    (b"3", "top level is not an object"), (b"null", "top level is not an object"),
    (b'{"a": "\xff"}', "not UTF-8"), ('{"a":1}'.encode("utf-16"), "not UTF-8"),
    ('\ufeff{"a":1}'.encode(), "not JSON"), (b'{"a": NaN}', "non-standard JSON constant"),
    (b'{"a": -Infinity}', "non-standard JSON constant"), (b'{"a": 1' + b"1" * 5000 + b"}", "not JSON"),
    (b"[" * 70 + b"]" * 69, "nested deeper than 64"), (b"[[]" * 40, "not JSON"), (b"]" * 70, "not JSON"),
])
def test_unreadable_bodies(raw, reason):
    with pytest.raises(BadBody) as err:
        load_body(raw)
    assert err.value.reason == reason and isinstance(err.value, ValueError)


def test_load_body_accepts_bytearray_and_refuses_str():
    assert load_body(bytearray(b'{"a": [1]}')) == {"a": [1]}
    with pytest.raises(TypeError):
        load_body('{"a": 1}')  # type: ignore[arg-type]


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(st.one_of(st.binary(max_size=2000),
                 st.builds(lambda b, cut, junk: b[:cut] + junk + b[cut:],
                           st.just(p.raw(valid_body())), st.integers(0, 3000), st.binary(max_size=20))))
def test_load_body_on_random_bytes_is_a_dict_or_bad_body(raw):
    try:
        assert isinstance(load_body(raw), dict)
    except BadBody:
        pass


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('[]{}"\\/ a\u00e9🙂\n')),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=3), kids, max_size=4),
    max_leaves=60)


def reference_depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max(map(reference_depth, v.values()), default=0)
    if isinstance(v, list):
        return 1 + max(map(reference_depth, v), default=0)
    return 0


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(JSON, st.booleans(), st.integers(0, 70))
def test_the_depth_scan_agrees_with_the_parsed_value(value, ascii_only, extra):
    value = nested(extra, leaf=value, dicts=extra % 2 == 0)
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nesting_depth(raw, 1000) == reference_depth(value)
    assert nesting_depth(raw, 10) == min(reference_depth(value), 11)


# ------------------------------------------------------------------------------------------ specific cases

def batch_of(*values: dict, extra_entries: list | None = None) -> dict:
    body = p.envelope(*values)
    body["entry"] += extra_entries or []
    return body


def ids(batch: ParsedBatch) -> list[str]:
    return [m.id for m in batch.messages]


def reasons(batch: ParsedBatch) -> list[tuple[str, str | None, str]]:
    return [(r.kind, r.item_id, r.reason) for r in batch.rejected]


@pytest.mark.parametrize("entry, reason", [
    ({"id": "W"}, "entry is not a list"), ("entry", "entry is not a list"), (7, "entry is not a list"),
])
def test_entry_not_a_list(client, entry, reason):
    batch = parse_batch({"object": "whatsapp_business_account", "entry": entry}, client)
    assert reasons(batch) == [("entry", None, reason)] and batch.messages == ()


def test_non_object_bodies_are_a_rejection_not_a_crash(client):
    for body in ([], "x", 3, None):
        assert reasons(parse_batch(body, client)) == [("entry", None, "body is not an object")]
    assert parse_batch({}, client) == ParsedBatch((), (), ())


def test_broken_containers_do_not_lose_the_good_ones(client):
    good = p.text(A, "hi")
    body = batch_of(p.messages_value([good], [p.contact(A)]), extra_entries=[
        "not an entry", {"id": "W", "changes": {"field": "messages"}}, {"id": "W", "changes": [
            7, {"field": "messages", "value": [good]}, {"field": "messages", "value": {"messages": {"0": good}}},
            {"field": "messages", "value": {"statuses": "read"}},
            {"field": "user_preferences", "value": {"user_preferences": {"wa_id": A}}},
            {"field": "messages", "value": None}, {"field": "messages"}]}, {"id": "W"}])
    batch = parse_batch(body, client)
    assert ids(batch) == [good["id"]]
    assert reasons(batch) == [("entry", None, r) for r in (
        "entry item is not an object", "changes is not a list", "change is not an object",
        "value is not an object", "messages is not a list", "statuses is not a list",
        "user_preferences is not a list")]


def test_a_messages_dict_does_not_lose_the_statuses_beside_it(client):
    value = p.statuses_value([p.status("wamid.s", "read")]) | {"messages": {"id": "wamid.m"}}
    batch = parse_batch(p.envelope(value), client)
    assert [s.wamid for s in batch.statuses] == ["wamid.s"]
    assert reasons(batch) == [("entry", None, "messages is not a list")]


@pytest.mark.parametrize("item", ["wamid.x", 5, None, [p.text(A, "in a list")], True])
def test_a_message_that_is_not_an_object(client, item):
    good = p.text(A, "hi")
    batch = parse_batch(p.envelope(p.messages_value([item, good], [p.contact(A)])), client)
    assert ids(batch) == [good["id"]] and reasons(batch) == [("message", None, "not an object")]


@pytest.mark.parametrize("bad_id", [12345, None, "", ["wamid.x"], {"id": "x"}, "wamid." + "A" * 300, 1.5])
def test_ids_that_are_not_sane_strings(client, bad_id):
    good, bad = p.text(A, "hi"), p.text(B, "hello")
    bad["id"] = bad_id
    batch = parse_batch(p.envelope(p.messages_value([bad, good], [p.contact(A), p.contact(B)])), client)
    assert ids(batch) == [good["id"]] and reasons(batch) == [("message", None, "bad id")]


@pytest.mark.parametrize("ts", ["abc", "9" * 50, "9" * 5000, 10**30, -1, 0, float("inf"), float("nan"), None,
                                [], {}, True, "1795400000.5", " 1795400000", "٣٤٥"])
def test_garbage_timestamps_read_as_now(client, ts):
    msg, status = p.text(A, "hi"), p.status("wamid.s", "read")
    msg["timestamp"] = status["timestamp"] = ts
    pref = {"wa_id": A, "value": "resume", "timestamp": ts}
    before = datetime.now(timezone.utc)
    batch = parse_batch(batch_of(p.messages_value([msg], [p.contact(A)]), p.statuses_value([status]),
                                 extra_entries=[{"changes": [{"field": "user_preferences",
                                                              "value": {"user_preferences": [pref]}}]}]), client)
    assert batch.rejected == ()
    for at in (batch.messages[0].timestamp, batch.statuses[0].at, batch.preferences[0].at):
        assert before - timedelta(seconds=1) <= at <= datetime.now(timezone.utc)


def test_good_timestamps_are_kept(client):
    msg = p.text(A, "hi", ts=1795400000)
    msg2 = p.text(A, "hi") | {"timestamp": 1795400001}
    batch = parse_batch(p.envelope(p.messages_value([msg, msg2], [p.contact(A)])), client)
    assert [int(m.timestamp.timestamp()) for m in batch.messages] == [1795400000, 1795400001]


@pytest.mark.parametrize("contacts", [
    {"wa_id": A}, "contacts", [None, 5, "x"], [{"profile": ["Asha"], "user_id": "IN.1", "wa_id": A}],
    [{"profile": {"name": 5}, "user_id": 7, "wa_id": [A]}], [{"profile": {"name": "N" * 10_000}, "wa_id": A}],
    [], None,
])
def test_malformed_contacts_do_not_lose_the_message(client, contacts):
    msg = p.text(A, "hi")
    batch = parse_batch(p.envelope(p.messages_value([msg], contacts)), client)
    assert ids(batch) == [msg["id"]] and batch.rejected == ()
    m = batch.messages[0]
    assert m.text == "hi" and m.sender.phone == A and m.sender.user_id == msg["from_user_id"]
    assert m.sender.name is None or isinstance(m.sender.name, str) and len(m.sender.name) <= 256


def test_a_message_is_never_attributed_to_another_users_contact(client):
    """The old parser fell back to contacts[0]: B's contact (and BSUID) would have named A's message."""
    msg = p.text(A, "yes")
    batch = parse_batch(p.envelope(p.messages_value([msg], [p.contact(B, name="Bina")])), client)
    sender = batch.messages[0].sender
    assert sender.phone == A and sender.user_id == msg["from_user_id"] and sender.name is None


def test_the_contact_fills_in_the_identifier_the_message_lacks(client):
    msg = p.text(A, "hi")
    msg.pop("from_user_id")
    batch = parse_batch(p.envelope(p.messages_value([msg], [p.contact(B), p.contact(A, bsuid="IN.42")])), client)
    assert batch.messages[0].sender.key == "IN.42" and batch.messages[0].sender.name == "Asha"


@pytest.mark.parametrize("drop", [("from", "from_user_id"), ("from_user_id",)])
def test_a_message_without_a_sender_is_rejected(client, drop):
    good, bad = p.text(A, "hi"), p.text(B, "who am I")
    for key in drop:
        bad.pop(key, None)
    if len(drop) == 1:
        bad["from"] = None
    batch = parse_batch(p.envelope(p.messages_value([bad, good], [p.contact(B), p.contact(A)])), client)
    assert ids(batch) == [good["id"]] and reasons(batch) == [("message", bad["id"], "no sender")]


@pytest.mark.parametrize("field, value", [("from", 919800000002), ("from", ["919800000002"]),
                                          ("from_user_id", {"id": 1}), ("from", "9" * 1000)])
def test_a_sender_of_the_wrong_type_is_rejected(client, field, value):
    bad = p.text(B, "hi") | {field: value}
    batch = parse_batch(p.envelope(p.messages_value([bad], [p.contact(B)])), client)
    assert batch.messages == () and reasons(batch) == [("message", bad["id"], f"bad {field}")]


@pytest.mark.parametrize("mutate_item, reason", [
    (lambda m: m.pop("type"), "bad type"), (lambda m: m.update(type=5), "bad type"),
    (lambda m: m.update(text="hi"), "bad text content"), (lambda m: m.pop("text"), "bad text content"),
    (lambda m: m["text"].update(body=None), "bad text body"), (lambda m: m["text"].update(body=["x"]), "bad text body"),
])
def test_text_messages_need_a_text_body(client, mutate_item, reason):
    bad, good = p.text(A, "x"), p.text(A, "y")
    mutate_item(bad)
    batch = parse_batch(p.envelope(p.messages_value([bad, good], [p.contact(A)])), client)
    assert ids(batch) == [good["id"]] and reasons(batch) == [("message", bad["id"], reason)]


@pytest.mark.parametrize("mutate_item, reason", [
    (lambda m: m.update(interactive="button_reply"), "bad interactive content"),
    (lambda m: m["interactive"].update(button_reply=None), "bad button_reply content"),
    (lambda m: m["interactive"]["button_reply"].update(id=5), "bad button id"),
    (lambda m: m["interactive"]["button_reply"].pop("id"), "bad button id"),
])
def test_button_taps_need_a_string_id(client, mutate_item, reason):
    bad = p.button_reply(A, "confirm:o1:n1", "Confirm")
    mutate_item(bad)
    batch = parse_batch(p.envelope(p.messages_value([bad], [p.contact(A)])), client)
    assert batch.messages == () and reasons(batch) == [("message", bad["id"], reason)]


def test_unknown_types_are_unsupported_messages_not_rejections(client):
    odd = [p.message(A, "order", {"catalog_id": "1"}), p.message(A, "interactive", {"type": "nfm_reply"}),
           p.message(A, "x" * 10_000, {})]
    batch = parse_batch(p.envelope(p.messages_value(odd, [p.contact(A)])), client)
    assert [m.kind for m in batch.messages] == [MessageKind.UNSUPPORTED] * 3 and batch.rejected == ()


def test_media_fields_of_the_wrong_type_are_dropped(client):
    doc = p.message(A, "document", {"filename": 5, "mime_type": ["pdf"], "id": None, "caption": {"x": 1}})
    batch = parse_batch(p.envelope(p.messages_value([doc], [p.contact(A)])), client)
    att = batch.messages[0].attachment
    assert batch.messages[0].kind is MessageKind.DOCUMENT and att is not None
    assert (att.filename, att.mime_type, att.media_id, att.caption) == (None, None, None, None)


def test_pywa_strictness_falls_back_to_the_checked_values(client):
    """pywa needs context on a list reply and metadata it can read; we do not, and keep the message."""
    pick = p.list_reply(A, "cancel:o9", "TCS")
    pick.pop("context")
    value = p.messages_value([pick], [p.contact(A)]) | {"metadata": ["garbage"]}
    with structlog.testing.capture_logs() as logs:
        batch = parse_batch(p.envelope(value), client)
    assert batch.messages[0].payload == "cancel:o9" and batch.messages[0].text == "TCS"
    assert batch.messages[0].kind is MessageKind.LIST and batch.rejected == ()
    assert [e["event"] for e in logs] == ["webhook_typed_parse_fallback"]


@pytest.mark.parametrize("status, reason", [
    ({"status": "read", "timestamp": "1795400000"}, "bad id"), ({"id": 5, "status": "read"}, "bad id"),
    ({"id": "wamid.s"}, "bad status"), ({"id": "wamid.s", "status": 3}, "bad status"),
    ({"id": "wamid.s", "status": "x" * 100}, "bad status"), ("wamid.s", "not an object"),
])
def test_statuses_with_missing_fields(client, status, reason):
    ok = p.status("wamid.ok", "delivered")
    batch = parse_batch(p.envelope(p.statuses_value([status, ok])), client)
    assert [s.wamid for s in batch.statuses] == ["wamid.ok"]
    item_id = status.get("id") if isinstance(status, dict) and isinstance(status.get("id"), str) else None
    assert reasons(batch) == [("status", item_id, reason)]


@pytest.mark.parametrize("errors, code, title", [
    ([{"code": 131026, "title": "Undeliverable"}], 131026, "Undeliverable"),
    ([{"code": "131026", "title": "x"}], 131026, "x"), ([{"code": "abc", "title": 5}], None, None),
    ([{"code": 10**30}], None, None), ([{"code": True}], None, None), ("boom", None, None), ([], None, None),
    (["boom"], None, None), ({"code": 1}, None, None), ([{"code": -3, "title": "t" * 1000}], None, None),
])
def test_status_errors_of_any_shape(client, errors, code, title):
    status = p.status("wamid.f", "failed") | {"errors": errors, "recipient_id": 919800000001}
    batch = parse_batch(p.envelope(p.statuses_value([status])), client)
    s = batch.statuses[0]
    assert (s.wamid, s.status, s.error_code, s.error_title, s.recipient) == ("wamid.f", "failed", code, title, None)


@pytest.mark.parametrize("pref, reason", [
    ({"value": "stop"}, "no user"), ({"wa_id": "", "user_id": None, "value": "stop"}, "no user"),
    ({"wa_id": 919800000001, "value": "stop"}, "bad wa_id"), ({"wa_id": A, "value": "maybe"}, "bad value"),
    ({"wa_id": A, "value": ["stop"]}, "bad value"), ({"wa_id": A}, "bad value"), ("stop", "not an object"),
    ({"user_id": {"id": 1}, "value": "stop"}, "bad user_id"),
])
def test_garbage_preferences_are_rejected_without_their_ids(client, pref, reason):
    ok = {"wa_id": B, "value": "resume", "timestamp": "1795400000"}
    body = {"entry": [{"changes": [{"field": "user_preferences", "value": {"user_preferences": [pref, ok]}}]}]}
    batch = parse_batch(body, client)
    assert [(x.wa_id, x.value) for x in batch.preferences] == [(B, "resume")]
    assert reasons(batch) == [("preference", None, reason)]


def test_parsed_batch_keeps_its_fields_and_order():
    assert ParsedBatch((), (), ()).rejected == ()
    assert [f for f in ParsedBatch.__dataclass_fields__] == ["messages", "statuses", "preferences", "rejected",
                                                          "template_statuses"]   # fields are only appended
    with pytest.raises(AttributeError):
        RejectedItem("message", None, "bad id").reason = "x"  # type: ignore[misc]


# ------------------------------------------------------------------------------------------ logging

def test_rejections_are_logged_without_personal_data(client):
    bad = p.text(A, "my pin is 4826") | {"type": 5}
    with structlog.testing.capture_logs() as logs:
        parse_batch(p.envelope(p.messages_value([bad], [p.contact(A)])), client)
    assert logs == [{"event": "webhook_item_rejected", "kind": "message", "reason": "bad type", "suppressed": 0,
                     "log_level": "warning"}]
    assert A not in repr(logs) and "4826" not in repr(logs) and bad["id"] not in repr(logs)


def test_rejection_logging_is_bounded_per_reason(client, monkeypatch):
    now = [1000.0]
    limiter = RateLimitedLog(window=10.0, clock=lambda: now[0])
    monkeypatch.setattr(parse_mod, "rejection_log", limiter)
    broken = [p.text(A, "x") | {"id": i} for i in range(100)] + [p.text(A, "y") | {"type": None}] * 3
    with structlog.testing.capture_logs() as logs:
        batch = parse_batch(p.envelope(p.messages_value(broken, [p.contact(A)])), client)
        assert len(batch.rejected) == 103
        assert [(e["reason"], e["suppressed"]) for e in logs] == [("bad id", 0), ("bad type", 0)]
        now[0] += 9.9
        parse_batch(p.envelope(p.messages_value(broken[:1], [])), client)
        assert len(logs) == 2
        now[0] += 0.2
        parse_batch(p.envelope(p.messages_value(broken[:1], [])), client)
    assert [(e["reason"], e["suppressed"]) for e in logs] == [("bad id", 0), ("bad type", 0), ("bad id", 100)]
    assert limiter.suppressed_total == 100 + 2
