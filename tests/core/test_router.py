from __future__ import annotations

from engine.api import Tier
from handlers.router import Router


async def _h(ctx):  # pragma: no cover - never called here
    return None


def _router() -> Router:
    r = Router("t")

    @r.on_payload("confirm")
    async def confirm_tap(ctx): ...

    @r.on_awaiting("quantity")
    async def quantity(ctx): ...

    @r.on_intent("buy")
    async def buy(ctx): ...

    @r.on_intent("analytics", tier=Tier.PRO)
    async def analytics(ctx): ...

    @r.fallback()
    async def fallback(ctx): ...

    return r


def names(res):
    return [route.name.split(".")[-1] for route in res.routes]


def test_payload_then_awaiting_then_intent_then_fallback():
    res = _router().resolve(payload_action="confirm", awaiting="quantity", intent="buy", tier=Tier.LITE)
    assert names(res) == ["confirm_tap", "quantity", "buy", "fallback"]


def test_pro_only_feature_is_tier_blocked_for_lite_and_routed_for_pro():
    r = _router()
    lite = r.resolve(payload_action=None, awaiting=None, intent="analytics", tier=Tier.LITE)
    assert lite.tier_blocked and lite.blocked_feature == "analytics" and lite.routes == ()
    pro = r.resolve(payload_action=None, awaiting=None, intent="analytics", tier=Tier.PRO)
    assert not pro.tier_blocked and names(pro) == ["analytics", "fallback"]


def test_nested_routers_are_composed_in_order():
    a, b = Router("a"), Router("b")

    @a.on_intent("greeting")
    async def first(ctx): ...

    @b.on_intent("greeting")
    async def second(ctx): ...

    root = Router("root").include(a, b)
    assert names(root.resolve(payload_action=None, awaiting=None, intent="greeting", tier=Tier.LITE)) == [
        "first", "second"]


def test_a_tapped_pro_only_button_is_blocked_even_while_a_dialogue_waits():
    r = Router("t")

    @r.on_awaiting("pin")
    async def pin(ctx): ...

    @r.on_payload("analytics", tier=Tier.PRO)
    async def analytics(ctx): ...

    res = r.resolve(payload_action="analytics", awaiting="pin", intent="analytics", tier=Tier.LITE)
    assert res.tier_blocked and res.blocked_feature == "analytics"
