"""Declared conversations: the order dialogue moves only through its declaration — an undeclared state, a move
it did not declare or a state without the data it works on is a typed error, and no trading module writes a
dialogue state of its own."""

from __future__ import annotations

import ast
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import IST
from handlers.conversation import IDLE, Conversation, IllegalTransition
from handlers.session import Session
from handlers.trading.states import CONFIRMATION, DRAFT_KEY, PENDING_KEY, PIN, QUANTITY, TRADING

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


def test_a_state_needs_the_data_it_works_on() -> None:
    session = Session()
    with pytest.raises(IllegalTransition, match="needs one of draft"):
        TRADING.enter(session, QUANTITY, now=NOW)
    with pytest.raises(IllegalTransition, match="needs one of pending"):
        TRADING.enter(session, CONFIRMATION, now=NOW, **{DRAFT_KEY: {"side": "BUY"}})
    TRADING.enter(session, QUANTITY, now=NOW, **{DRAFT_KEY: {"side": "BUY"}})
    assert session.awaiting == QUANTITY and session.expires_at == NOW + TRADING.timeout
    TRADING.enter(session, PIN, now=NOW)                  # the draft waits behind the PIN
    assert TRADING.is_secret(session.awaiting)


def test_undeclared_states_and_moves_are_refused() -> None:
    with pytest.raises(IllegalTransition, match="not one of its states"):
        TRADING.enter(Session(), "qty", now=NOW)
    card = Conversation("card", transitions={IDLE: frozenset({"shown"}), "shown": frozenset({"done"})},
                        timeout=timedelta(minutes=2), timeout_reply="trading.confirm.expired")
    session = Session()
    with pytest.raises(IllegalTransition, match="None -> 'done'"):
        card.enter(session, "done", now=NOW)
    card.enter(session, "shown", now=NOW)
    with pytest.raises(IllegalTransition, match="'shown' -> 'shown'"):
        card.enter(session, "shown", now=NOW)
    card.enter(session, "done", now=NOW)
    card.end(session)
    assert session.awaiting is None
    TRADING.enter(session, CONFIRMATION, now=NOW, **{PENDING_KEY: {"id": "x"}})
    card.end(session)                                     # not its dialogue: left alone
    assert session.awaiting == CONFIRMATION


def test_no_trading_module_writes_a_dialogue_state_itself() -> None:
    files = [*HANDLERS.glob("trading/*.py"), HANDLERS / "orders.py", HANDLERS / "security.py",
             HANDLERS / "middlewares" / "onboarding.py"]
    states = "|".join(sorted(TRADING.states))
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(rf"\.expect\(\s*\"({states})\"", text), path.name
        assert not re.search(rf"on_awaiting\(\s*\"({states})\"", text), path.name


def test_features_do_not_import_middlewares() -> None:
    composers = {HANDLERS / "dispatcher.py", HANDLERS / "routes.py"}    # the chain's composition, not features
    offenders = sorted(str(p.relative_to(HANDLERS)) for p in _modules()
                       if p.parent.name != "middlewares" and p not in composers
                       and any(name.startswith("handlers.middlewares") for name in _imported(p)))
    assert offenders == []


#: What a middleware may import from handlers/: the core a turn is made of, never a feature.
CORE = {"turn", "session", "replies", "ports", "conversation", "messages", "users", "context", "security", "router"}


def test_middlewares_import_only_the_core() -> None:
    """Feature rules reach the chain through the composition root (handlers/routes.py, handlers/dispatcher.py),
    passed into the middleware's constructor."""
    offenders = {}
    for path in sorted((HANDLERS / "middlewares").glob("*.py")):
        outside = sorted({name.split(".")[1] for name in _imported(path) if name.startswith("handlers.")}
                         - CORE - {"middlewares"})
        if outside:
            offenders[path.name] = outside
    assert offenders == {}


def test_declared_conversations_own_their_state_literals() -> None:
    from handlers.alerts import ALERTS
    from handlers.clarification import CLARIFICATION
    from handlers.quotes import QUOTES

    states = "|".join(sorted(ALERTS.states | CLARIFICATION.states | QUOTES.states | TRADING.states))
    for path in [*HANDLERS.glob("*.py"), *HANDLERS.glob("*/*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(rf"(\.expect\(|on_awaiting\(|awaiting == )\s*\"({states})\"", text), path.name


def _modules() -> list[Path]:
    return sorted(HANDLERS.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (lazy imports in functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _declared_states() -> dict[str, str]:
    """Every state of every conversation the product declares → the module that declares it."""
    from handlers.conversation import owner
    from handlers.routes import build_router

    router = build_router()            # imports every feature, and so declares every conversation
    states = {state for route in router.routes() for state in route.awaiting}
    assert states, "no route waits on a state"
    declared = {}
    for state in states:
        conversation = owner(state)
        assert conversation is not None, f"routes wait on {state!r}, which no conversation declares"
        declared[state] = conversation.name
    return declared


def _declaring_module(state: str) -> Path:
    """The file holding the ``Conversation(...)`` declaration that owns ``state`` (the one place its literal
    may be written)."""
    from handlers.conversation import owner

    conversation = owner(state)
    assert conversation is not None
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        if re.search(rf"Conversation\(\s*\"{re.escape(conversation.name)}\"", text):
            return path
    raise AssertionError(f"no module declares {conversation.name}")


def test_every_awaited_state_is_declared_and_no_literal_names_one_outside_its_conversation() -> None:
    """No ``.expect("quantity")``, ``on_awaiting("payment")``, ``awaiting in ("language", "consent")`` or
    ``SECRET_STATES = {"pin"}``: outside the module declaring its conversation a state is named by its constant."""
    declared = _declared_states()
    homes = {state: _declaring_module(state) for state in declared}
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            for literal in _state_literals(node, set(declared)):
                if homes[literal] != path:
                    offenders.append(f"{path.relative_to(HANDLERS)}:{node.lineno} {literal!r}")
    assert offenders == []


def _state_literals(node: ast.AST, states: set[str]) -> list[str]:
    """String constants naming a state where a state is meant: compared with ``.awaiting``, passed to
    ``expect`` / ``enter`` / ``on_awaiting``, or collected into a ``*STATE*`` constant."""
    def strings(tree: ast.AST) -> list[str]:
        return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in states]

    if isinstance(node, ast.Compare):
        sides = [node.left, *node.comparators]
        if any(isinstance(s, ast.Attribute) and s.attr == "awaiting" for s in sides):
            return [v for side in sides for v in strings(side)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr in ("expect", "enter", "on_awaiting"):
        return [v for arg in node.args for v in strings(arg)]
    if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and "STATE" in t.id for t in node.targets):
        return strings(node.value)
    return []


def test_only_the_conversation_module_writes_the_dialogue_state() -> None:
    """Every ``session.expect`` and ``session.clear`` goes through a declared conversation (``enter`` / ``end``) or
    :func:`handlers.conversation.interrupt`; nobody assigns ``.awaiting``."""
    allowed = {HANDLERS / "conversation.py", HANDLERS / "session.py"}
    offenders = []
    for path in _modules():
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value
                named = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if node.func.attr == "expect" or (node.func.attr == "clear" and named == "session"):
                    offenders.append(f"{path.relative_to(HANDLERS)}:{node.lineno} .{node.func.attr}()")
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for t in ast.walk(target):
                        if isinstance(t, ast.Attribute) and t.attr in ("awaiting", "expires_at"):
                            offenders.append(f"{path.relative_to(HANDLERS)}:{node.lineno} .{t.attr} =")
    assert offenders == []


def test_a_state_belongs_to_one_conversation_and_an_included_one_stays_its_owners() -> None:
    from handlers.conversation import owner
    from handlers.language import LANGUAGE, PICK
    from handlers.onboarding import CONSENT, ONBOARDING

    with pytest.raises(ValueError, match="declared by 'trading' and 'copy'"):
        Conversation("copy", transitions={IDLE: frozenset({PIN})}, timeout=timedelta(minutes=1),
                     timeout_reply="core.lapsed")
    assert owner(PIN) is TRADING and owner(CONSENT) is ONBOARDING
    assert owner(PICK) is LANGUAGE                # onboarding moves through the picker, which stays language's
    session = Session()
    ONBOARDING.enter(session, PICK, now=NOW, resume="buy 10 TCS")
    assert session.expires_at == NOW + ONBOARDING.timeout        # onboarding's own (longer) wait
    ONBOARDING.enter(session, CONSENT, now=NOW)
    ONBOARDING.end(session)
    assert session.awaiting is None and "resume" not in session.data


def test_every_conversation_says_its_timeout_reply_in_every_language() -> None:
    from handlers.conversation import declared
    from locales.catalog import LANGUAGES, load_catalog

    catalog = load_catalog()
    _declared_states()                            # every feature imported: every conversation declared
    conversations = declared()
    assert set(conversations) >= {"trading", "quotes", "alerts", "clarification", "language", "upgrade",
                                  "onboarding"}
    for conversation in conversations.values():
        for lang in LANGUAGES:
            assert catalog.translator(lang).has(conversation.timeout_reply), (conversation.name, lang)


def test_a_lapsed_wait_keeps_only_the_state_name() -> None:
    from handlers.conversation import lapse, timeout_reply

    session = Session()
    TRADING.enter(session, PIN, now=NOW, **{DRAFT_KEY: {"side": "BUY", "symbol": "TCS", "quantity": 10}})
    assert lapse(session, NOW + TRADING.timeout - timedelta(seconds=1)) is None
    assert session.awaiting == PIN
    assert lapse(session, NOW + TRADING.timeout) == PIN
    assert session.awaiting is None and DRAFT_KEY not in session.data
    assert timeout_reply(PIN) == TRADING.timeout_reply and timeout_reply("nobody's") is None
