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
    p = rsub.add_parser("verify", help="verify a receipt file standalone (no database)",
                        epilog="example:\n  gridworks receipt verify R-1.json --opening R-1.opening.json "
                               "--pubkey engine.pub")
    p.add_argument("file", type=Path, help="receipt JSON (R-….json)")
    p.add_argument("--opening", type=Path, help="the opening JSON you received privately")
    p.add_argument("--pubkey", help="engine public key: hex, or a file containing it")
    p.set_defaults(func=_verify)
    p = rsub.add_parser("show", help="print a stored receipt document")
    p.add_argument("receipt_id", help="the receipt id, e.g. R-…")
    p.set_defaults(func=_show)

    logp = sub.add_parser("log", help="the receipts transparency log")
    lsub = logp.add_subparsers(dest="log_command", metavar="ACTION")
    lsub.required = True
    p = lsub.add_parser("head", help="print the current signed tree head")
    p.set_defaults(func=_head)
    p = lsub.add_parser("prove", help="inclusion proof of a receipt against the current head")
    p.add_argument("receipt_id", help="the receipt id, e.g. R-…")
    p.set_defaults(func=_prove)
    p = lsub.add_parser("consistency", help="consistency proof from OLD_SIZE to the current head")
    p.add_argument("old_size", type=int, help="the tree size of an older signed head you hold")
    p.set_defaults(func=_consistency)


def _read_pubkey(value: str) -> bytes:
    path = Path(value)
    text = path.read_text().strip() if path.exists() else value.strip()
    return bytes.fromhex(text)


def _verify(args: argparse.Namespace) -> int:
    from engine.zk.verify import verify_receipt

    from bot.cli.common import CliError

    raw = args.file.read_bytes()            # a missing file: one line from the CLI's error handler
    try:
        opening = json.loads(args.opening.read_text()) if args.opening else None
    except ValueError as exc:
        raise CliError(f"--opening {args.opening} is not JSON ({exc})") from exc
    try:
        pubkey = _read_pubkey(args.pubkey) if args.pubkey else None
    except ValueError as exc:
        raise CliError("--pubkey is neither hex nor a file holding hex") from exc
    result = verify_receipt(raw, public_key=pubkey, opening=opening)
    if result.ok:
        print(f"OK {result.summary}")
        return 0
    print(f"INVALID check={result.failed_check} {result.summary}")
    return 1


def _query(fetch, missing: str, *, verified: bool = False) -> int:
    """Run one read-only log/receipt query: print its JSON, or ``missing`` and exit 1 when there is none
    (and exit 1 when ``verified`` and the proof did not verify). Opens the receipt service read-only: no
    proving pool, and no signing key is ever created by a query."""
    import asyncio

    async def main() -> int:
        from bot.cli.common import open_database, settings as load
        from engine.clock import SystemClock
        from engine.zk.keys import MissingKeys
        from engine.zk.service import open_receipts

        settings = load()
        db = await open_database(settings)
        try:
            from bot.stores.crypto import DataCipher

            service = await open_receipts(db=db, secrets=settings.secrets, clock=SystemClock(), read_only=True,
                                          keyring=DataCipher.from_secrets(settings.secrets))
        except MissingKeys as exc:
            print(f"gridworks: no receipt keys ({exc}); set GRIDWORKS_SIGNING_KEY and GRIDWORKS_BLINDING_SEED "
                  "or GRIDWORKS_STATE_DIR", file=sys.stderr)
            await db.dispose()
            return 2
        try:
            found = await fetch(service)
        finally:
            await service.close()
            await db.dispose()
        if found is None:
            print(missing, file=sys.stderr)
            return 1
        _print(found)
        return 1 if verified and not found["verified"] else 0

    return asyncio.run(main())


def _print(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    print()


def _show(args: argparse.Namespace) -> int:
    return _query(lambda service: service.find(args.receipt_id), f"not found: {args.receipt_id}")


def _head(args: argparse.Namespace) -> int:
    async def head(service):
        found = await service.head()
        return None if found is None else found.to_dict() | {"public_key": service.public_key.hex()}
    return _query(head, "empty log")


def _prove(args: argparse.Namespace) -> int:
    return _query(lambda service: service.inclusion_proof(args.receipt_id), f"not found: {args.receipt_id}",
                  verified=True)


def _consistency(args: argparse.Namespace) -> int:
    return _query(lambda service: service.consistency_proof(args.old_size),
                  f"no consistency proof for size {args.old_size}", verified=True)
