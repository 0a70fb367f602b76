"""``gridworks receipt verify|show`` and ``gridworks log head|prove|consistency``.

``receipt verify`` is the standalone verifier: it reads only the receipt file (which carries the signed
tree head, the inclusion proof and the engine key) and optionally the user's opening and a pinned
engine public key; it never opens the database. Exit 0 with a one-line summary, 1 naming the check.
The other commands open the receipt service from ``config.settings.load_settings()``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    receipt = sub.add_parser("receipt", help="verify or show ZK trade receipts")
    rsub = receipt.add_subparsers(dest="receipt_command", metavar="ACTION")
    rsub.required = True
    p = rsub.add_parser("verify", help="verify a receipt file standalone (no database)")
    p.add_argument("file", type=Path, help="receipt JSON (R-….json)")
    p.add_argument("--opening", type=Path, help="the opening JSON you received privately")
    p.add_argument("--pubkey", help="engine public key: hex, or a file containing it")
    p.set_defaults(func=_verify)
    p = rsub.add_parser("show", help="print a stored receipt document")
    p.add_argument("receipt_id")
    p.set_defaults(func=_show)

    logp = sub.add_parser("log", help="the receipts transparency log")
    lsub = logp.add_subparsers(dest="log_command", metavar="ACTION")
    lsub.required = True
    p = lsub.add_parser("head", help="print the current signed tree head")
    p.set_defaults(func=_head)
    p = lsub.add_parser("prove", help="inclusion proof of a receipt against the current head")
    p.add_argument("receipt_id")
    p.set_defaults(func=_prove)
    p = lsub.add_parser("consistency", help="consistency proof from OLD_SIZE to the current head")
    p.add_argument("old_size", type=int)
    p.set_defaults(func=_consistency)


def _read_pubkey(value: str) -> bytes:
    path = Path(value)
    text = path.read_text().strip() if path.exists() else value.strip()
    return bytes.fromhex(text)


def _verify(args: argparse.Namespace) -> int:
    from engine.zk.verify import verify_receipt

    try:
        raw = args.file.read_bytes()
        opening = json.loads(args.opening.read_text()) if args.opening else None
        pubkey = _read_pubkey(args.pubkey) if args.pubkey else None
    except (OSError, ValueError) as exc:
        print(f"INVALID input: {exc}")
        return 1
    result = verify_receipt(raw, public_key=pubkey, opening=opening)
    if result.ok:
        print(f"OK {result.summary}")
        return 0
    print(f"INVALID check={result.failed_check} {result.summary}")
    return 1


def _run(coro_factory) -> int:
    import asyncio

    async def main() -> int:
        from config.settings import load_settings
        from engine.clock import SystemClock
        from engine.db import make_engine
        from engine.zk.service import open_receipts

        settings = load_settings()
        db = make_engine(settings.storage.database_url)
        service = await open_receipts(db=db, secrets=settings.secrets, clock=SystemClock())
        try:
            return await coro_factory(service)
        finally:
            await service.close()
            await db.dispose()

    return asyncio.run(main())


def _print(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    print()


def _show(args: argparse.Namespace) -> int:
    async def go(service) -> int:
        doc = await service.find(args.receipt_id)
        if doc is None:
            print(f"not found: {args.receipt_id}")
            return 1
        _print(doc)
        return 0
    return _run(go)


def _head(args: argparse.Namespace) -> int:
    async def go(service) -> int:
        head = await service.head()
        if head is None:
            print("empty log")
            return 1
        _print(head.to_dict() | {"public_key": service.public_key.hex()})
        return 0
    return _run(go)


def _prove(args: argparse.Namespace) -> int:
    async def go(service) -> int:
        proof = await service.inclusion_proof(args.receipt_id)
        if proof is None:
            print(f"not found: {args.receipt_id}")
            return 1
        _print(proof)
        return 0 if proof["verified"] else 1
    return _run(go)


def _consistency(args: argparse.Namespace) -> int:
    async def go(service) -> int:
        proof = await service.consistency_proof(args.old_size)
        if proof is None:
            print(f"no consistency proof for size {args.old_size}")
            return 1
        _print(proof)
        return 0 if proof["verified"] else 1
    return _run(go)
