"""Operator commands: ``gridworks users create|show|set-tier|reseal`` (``gridworks handoff …``: handoff_cmd.py).

``users create`` provisions an account non-interactively, as a broker's KYC back office would: consent is
recorded (so the onboarding gate lets the user straight through), the PIN is stored only as the trading
module's scrypt hash, and the virtual trading account is opened with the given cash. The user still enters
the PIN once per trading day. Output never shows a PIN or its hash.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import fail


def register(sub) -> None:
    users = sub.add_parser("users", help="operator tools for user accounts", epilog=(
        "examples:\n  gridworks users create 919800000001 --name Asha --lang hi --pin 4826 --cash 100000\n"
        "  gridworks users set-tier 919800000001 pro\n"
        "  GRIDWORKS_DATA_KEYS=new,old gridworks users reseal     (after a data-key rotation)"))
    usub = users.add_subparsers(dest="users_command", metavar="ACTION")
    usub.required = True

    p = usub.add_parser("create", help="provision an account (skips onboarding)")
    p.add_argument("wa_id", help="WhatsApp number (digits) or business-scoped user id")
    p.add_argument("--name", default=None, help="the user's name as the bot addresses them")
    p.add_argument("--lang", default="en", help="reply language code (en, hi, hi-Latn, ta, …)")
    p.add_argument("--tier", choices=("lite", "pro"), default="lite", help="the account's tier")
    p.add_argument("--pin", default=None, help="4–6 digit trading PIN (stored only as a scrypt hash)")
    p.add_argument("--cash", type=float, default=None, help="starting virtual cash in rupees")
    p.set_defaults(func=_run, action="create")

    p = usub.add_parser("show", help="show one user (no PIN, no personal data beyond the account)")
    p.add_argument("wa_id", help="WhatsApp number, BSUID or user key")
    p.set_defaults(func=_run, action="show")

    p = usub.add_parser("set-tier", help="switch a user to LITE or PRO")
    p.add_argument("wa_id", help="WhatsApp number, BSUID or user key")
    p.add_argument("tier", choices=("lite", "pro"), help="the new tier")
    p.set_defaults(func=_run, action="set-tier")

    p = usub.add_parser("reseal", help="re-encrypt PRO data (profiles, engine rows, receipts) under the current "
                                       "data key (after rotation) and seal PRO accounts not sealed yet")
    p.set_defaults(func=_run, action="reseal")

    # ``gridworks handoff …`` lives in bot/cli/handoff_cmd.py.


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.cli.common import settings as load

    settings = load()
    from bot.cluster.lease import EngineBusy
    from engine.api import EngineUnavailable

    try:
        return asyncio.run(run_action(settings, args))
    except EngineBusy as exc:
        return fail(str(exc))
    except EngineUnavailable:
        return fail("the cluster's engine did not answer (is `gridworks engine` running?). Nothing was changed "
                     "in the engine; run the command again once it is up.")


def describe(user: Any, funds: Any | None = None) -> dict[str, Any]:
    """What an operator may see about a user: account state and flags, never the PIN (or its hash)."""
    profile = dict(user.profile)
    out: dict[str, Any] = {
        "key": user.key, "phone": user.phone, "bsuid": user.bsuid, "name": user.name, "tier": user.tier.value,
        "language": user.language, "created_at": user.created_at.isoformat() if user.created_at else None,
        "onboarded": bool(profile.get("consent")), "pin_set": bool(profile.get("pin")),
        "plan": profile.get("plan"), "trial_used": bool(profile.get("trial_used")),
        "handoff": profile.get("handoff"), "marketing_opt_out": bool(profile.get("marketing_opt_out")),
    }
    if funds is not None:
        out["cash_paise"] = funds.cash_paise
        out["available_paise"] = funds.available_paise
    return out


def _sender(wa_id: str):
    from handlers.messages import Sender

    wa_id = wa_id.strip()
    if wa_id.lstrip("+").isdigit():
        return Sender(phone=wa_id.lstrip("+"))
    return Sender(user_id=wa_id)


async def run_action(settings: Any, args: argparse.Namespace) -> int:
    """Open the database (and the engine when cash is involved) and run one operator action."""
    import json

    from bot.cli.common import open_database
    from bot.stores.crypto import DataCipher
    from bot.stores.sql import SqlUserRepository, create_schema

    db = await open_database(settings)
    try:
        await create_schema(db)
        users = SqlUserRepository(db, cipher=DataCipher.from_secrets(settings.secrets))
        action = args.action
        if action == "create":
            return await _create(settings, db, users, args)
        if action == "reseal":
            print(json.dumps(await _reseal(settings, db, users)))
            return 0
        user = await users.find(args.wa_id.lstrip("+"))
        if user is None:
            return fail(f"no user {args.wa_id}")
        if action == "show":
            opened = await _engine(settings, db)
            try:
                funds = await opened.engine.funds(user.account)
            finally:
                await opened.close()
            print(json.dumps(describe(user, funds), ensure_ascii=False, indent=2))
            return 0
        if action == "set-tier":
            from engine.api import Tier

            updated = await users.set_tier(user.key, Tier(args.tier.upper()))
            out: dict[str, Any] = {"key": updated.key, "tier": updated.tier.value}
            if updated.tier is Tier.PRO:
                out["engine_sealed"] = await _seal_engine_account(settings, db, updated.account)
            print(json.dumps(out))
            return 0
        return fail(f"unknown action {action}")
    finally:
        await db.dispose()


async def _seal_engine_account(settings: Any, db: Any, account: str) -> bool:
    """A user just made PRO: seal their engine rows now (embedded engine). A cluster's engine does it
    itself at the account's next PRO order (or run ``users reseal``)."""
    opened = await _engine(settings, db)
    try:
        seal = getattr(opened.engine, "seal_accounts", None)
        return bool(await seal([account])) if seal is not None else False
    finally:
        await opened.close()


async def _reseal(settings: Any, db: Any, users: Any) -> dict[str, int]:
    """Bring everything sealed to the current data key and every PRO user's data to its sealed form: the
    user rows, then the engine's rows (a PRO user's account is sealed now if it has not been yet; every
    sealed row is re-sealed under the current key), then the receipts' rows."""
    from sqlalchemy import inspect

    from bot.stores.crypto import DataCipher
    from engine.api import Tier
    from engine.sealed import Sealer
    from engine.store import reseal_rows
    from engine.zk import store as zk_store

    cipher = DataCipher.from_secrets(settings.secrets)
    out = {"resealed": await users.reseal()}
    accounts = [u.account for u in [await users.get(k) for k in await users.all_keys(tier=Tier.PRO)] if u]
    opened = await _engine(settings, db)
    try:
        engine = opened.engine
        if hasattr(engine, "seal_accounts"):      # embedded: we hold the database's engine lease
            out["engine_accounts_sealed"] = await engine.seal_accounts(accounts)
            out["engine_rows_resealed"] = await engine.store.reseal()
        else:                                     # a running cluster engine: key rotation only (compare-and-swap);
            out["engine_accounts_sealed"] = 0     # it seals a PRO account itself at its next PRO order
            out["engine_rows_resealed"] = await reseal_rows(db, Sealer(cipher))
    finally:
        await opened.close()
    async with db.begin() as conn:
        has_receipts = await conn.run_sync(lambda c: inspect(c).has_table("zk_log"))
        out["receipt_rows_resealed"] = await zk_store.reseal(conn, cipher) if has_receipts else 0
    return out


async def _engine(settings: Any, db: Any, clock: Any = None):
    from bot.app import make_clock, open_order_engine

    return await open_order_engine(settings, db, clock or make_clock(settings, simulated=False))


async def _create(settings: Any, db: Any, users: Any, args: argparse.Namespace) -> int:
    import json

    from engine.api import Tier
    from handlers.onboarding import consent_profile
    from handlers.security import PIN_KEY, PinPolicy, hash_pin, pin_problem
    from locales.catalog import LANGUAGES

    if args.lang not in LANGUAGES:
        return fail(f"--lang must be one of {', '.join(LANGUAGES)}")
    policy = PinPolicy.from_config(settings.product.trading.pin)
    problem = None if args.pin is None else pin_problem(args.pin, policy, phone=_sender(args.wa_id).phone)
    if problem is not None:
        return fail(f"--pin refused: {problem}")
    if args.cash is not None and args.cash < 0:
        return fail("--cash must not be negative")
    from bot.app import make_clock

    clock = make_clock(settings, simulated=False)
    now = clock.now()
    opened = await _engine(settings, db, clock)
    engine = opened.engine
    try:
        sender = _sender(args.wa_id)
        user = await users.get_or_create(sender, now=now, language=args.lang)
        profile = {**user.profile, **consent_profile(
            now, terms_version=settings.product.trading.onboarding.terms_version)}
        if args.pin is not None:
            profile[PIN_KEY] = hash_pin(args.pin, policy)
        fields: dict[str, Any] = {"profile": profile, "language": args.lang,
                                  "tier": Tier(args.tier.upper())}
        if args.name:
            fields["name"] = args.name
        user = await users.update(user.key, **fields)
        cash = None if args.cash is None else int(round(args.cash * 100))
        if user.tier is Tier.PRO and hasattr(engine, "seal_accounts"):
            await engine.seal_accounts([user.account])       # sealed from its very first row
        funds = await engine.open_account(user.account, starting_cash_paise=cash)
    finally:
        await opened.close()
    print(json.dumps(describe(user, funds), ensure_ascii=False, indent=2))
    return 0
