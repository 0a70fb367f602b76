"""The JSON wrapper a user receives: canonical bytes (base64) plus everything a standalone verifier
needs — the signed tree head at issuance, the inclusion proof(s) and the engine key — and a readable
mirror of the public fields. Only the canonical bytes are trusted, and the verifier binds the whole
document to them: it re-renders the document with the functions below from what it decoded and
:func:`first_difference` must find nothing — no changed value, missing key or unknown key at any level.
The binding is on JSON values (exact types included), not on formatting: whitespace and key order are
free, because the same values can be serialised in many ways and none of them changes what is proved.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any, Sequence

from engine.zk.statements import FILL_M, FILL_N, PORTFOLIO_N, FillStatement, PortfolioStatement

FORMAT = "gridworks-zk-receipt"
SCHEME = "schnorr-bn254-g1-v1"
FILL_PROVES = ("fill_price_respects_limit", "fill_quantity_at_least_1", "fill_quantity_within_remaining",
               "commitments_match_order_leaf", "engine_signed", "included_in_log")
PORTFOLIO_PROVES = ("portfolio_value_at_least_threshold", "quantities_in_range", "engine_signed",
                    "included_in_log")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def iso_us(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc).isoformat()


def _log_block(*, log_id: bytes, leaf_index: int, inclusion: Sequence[bytes], head_signed: bytes, head_size: int,
               head_root: bytes, head_time_us: int) -> dict[str, Any]:
    return {
        "log_id": log_id.hex(),
        "leaf_index": leaf_index,
        "inclusion": [h.hex() for h in inclusion],
        "tree_head": {"b64": b64(head_signed), "size": head_size, "root": head_root.hex(),
                      "timestamp": iso_us(head_time_us)},
    }


def fill_document(*, receipt_id: str, receipt: bytes, statement: FillStatement, order_id: str, order_leaf: bytes,
                  order_leaf_index: int, order_inclusion: Sequence[bytes], public_key: bytes, key_id: bytes,
                  leaf_index: int, inclusion: Sequence[bytes], head_signed: bytes, head_size: int,
                  head_root: bytes, head_time_us: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": 1,
        "kind": "fill",
        "receipt_id": receipt_id,
        "receipt": {"b64": b64(receipt), "bytes": len(receipt)},
        "order": {"order_id": order_id, "leaf_b64": b64(order_leaf), "leaf_index": order_leaf_index,
                  "inclusion": [h.hex() for h in order_inclusion]},
        "engine_key": {"scheme": SCHEME, "key_id": key_id.hex(), "public_key": public_key.hex()},
        "log": _log_block(log_id=statement.log_id, leaf_index=leaf_index, inclusion=inclusion,
                          head_signed=head_signed, head_size=head_size, head_root=head_root,
                          head_time_us=head_time_us),
        "public": {"side": statement.side, "symbol": statement.symbol, "fill_time": iso_us(statement.fill_us),
                   "fill_seq": statement.fill_seq, "range_bits": FILL_N, "values": FILL_M,
                   "params_id": statement.params_id.hex()},
        "proves": list(FILL_PROVES),
    }


def portfolio_document(*, receipt_id: str, receipt: bytes, statement: PortfolioStatement, public_key: bytes,
                       key_id: bytes, leaf_index: int, inclusion: Sequence[bytes], head_signed: bytes,
                       head_size: int, head_root: bytes, head_time_us: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": 1,
        "kind": "portfolio",
        "receipt_id": receipt_id,
        "receipt": {"b64": b64(receipt), "bytes": len(receipt)},
        "engine_key": {"scheme": SCHEME, "key_id": key_id.hex(), "public_key": public_key.hex()},
        "log": _log_block(log_id=statement.log_id, leaf_index=leaf_index, inclusion=inclusion,
                          head_signed=head_signed, head_size=head_size, head_root=head_root,
                          head_time_us=head_time_us),
        "public": {"threshold_paise": statement.threshold_paise, "at": iso_us(statement.at_us),
                   "holdings": [{"symbol": h.symbol, "price_paise": h.price_paise} for h in statement.holdings],
                   "range_bits": PORTFOLIO_N, "values": statement.m, "params_id": statement.params_id.hex()},
        "proves": list(PORTFOLIO_PROVES),
    }


# Which verifier check a differing field belongs to (longest path prefix wins); structure → "document".
_CHECK_BY_PATH: dict[tuple[str, ...], str] = {
    ("format",): "encoding", ("version",): "encoding", ("kind",): "encoding",
    ("receipt_id",): "receipt_id",
    ("receipt", "b64"): "encoding",
    ("order",): "order_leaf", ("order", "inclusion"): "inclusion", ("order", "leaf_index"): "inclusion",
    ("engine_key",): "key",
    ("log",): "statement", ("log", "inclusion"): "inclusion", ("log", "leaf_index"): "inclusion",
    ("log", "tree_head", "b64"): "tree_head",
    ("public",): "statement",
}


def check_for(path: tuple[Any, ...]) -> str:
    """The stable check name for a difference at ``path`` (list indices are ignored)."""
    keys = tuple(k for k in path if isinstance(k, str))
    for n in range(len(keys), 0, -1):
        if keys[:n] in _CHECK_BY_PATH:
            return _CHECK_BY_PATH[keys[:n]]
    return "document"


def _where(path: tuple[Any, ...]) -> str:
    return ".".join(str(k) for k in path) or "document"


def first_difference(expected: Any, actual: Any, path: tuple[Any, ...] = ()) -> tuple[str, str] | None:
    """``None`` when ``actual`` has exactly the values of ``expected``, else ``(check, detail)``.

    Types are compared exactly (``True`` is not ``1``, ``1.0`` is not ``1``, a tuple is not a list);
    a missing or unknown key or a list of another length is a ``document`` failure; a differing value
    is named for the part of the receipt it mirrors (see ``_CHECK_BY_PATH``).
    """
    if type(expected) is not type(actual):
        return ("document" if isinstance(expected, (dict, list)) else check_for(path),
                f"{_where(path)} has the wrong type")
    if isinstance(expected, dict):
        for key in expected:
            if key not in actual:
                return "document", f"missing field {_where(path + (key,))}"
        for key in actual:
            if key not in expected:
                return "document", f"unknown field {_where(path + (str(key),))}"
        for key, value in expected.items():
            found = first_difference(value, actual[key], path + (key,))
            if found is not None:
                return found
        return None
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return "document", f"{_where(path)} has the wrong length"
        for i, (e, a) in enumerate(zip(expected, actual)):
            found = first_difference(e, a, path + (i,))
            if found is not None:
                return found
        return None
    if expected != actual:
        return check_for(path), f"{_where(path)} does not match the signed bytes"
    return None
