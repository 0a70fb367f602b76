"""Canonical fixed-width encodings of what the log holds: order leaves, fill and portfolio statements,
signed tree heads. Version byte first, then a kind byte; every field has one width; decoders insist
on exactly one encoding (strict points and scalars, no trailing bytes).

Fill statement (351 B) ‖ range proof (992 B) ‖ signature (64 B) = a 1,407-byte receipt.
The receipt id is the hash of the statement bytes: the proof cannot include its own hash, so the
statement hash is what the Fiat–Shamir transcript absorbs and what the id names, and the engine's
signature covers statement ‖ proof.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from engine.zk.codec import DecodeError, Reader, encode_point, fixed_text, read_text
from engine.zk.curve import Jac

VERSION = 1
KIND_ORDER = 1
KIND_FILL = 2
KIND_PORTFOLIO = 3
KIND_HEAD = 4
SIDES = {"BUY": 0, "SELL": 1}
SIDE_NAMES = {v: k for k, v in SIDES.items()}
SYMBOL_BYTES = 16
FILL_N, FILL_M = 32, 4
PORTFOLIO_N = 64
MAX_HOLDINGS = 31


def tagged_hash(tag: str, data: bytes) -> bytes:
    return hashlib.sha256(tag.encode() + b"\x00" + data).digest()


def order_ref(order_id: str) -> bytes:
    return tagged_hash("GW-ORDER", order_id.encode())


def trade_ref(trade_id: str) -> bytes:
    return tagged_hash("GW-TRADE", trade_id.encode())


def pseudonym_ref(pseudonym: str) -> bytes:
    return tagged_hash("GW-PSEUDONYM", pseudonym.encode())


def _header(r: Reader, kind: int) -> None:
    if r.u8() != VERSION:
        raise DecodeError("unknown version")
    if r.u8() != kind:
        raise DecodeError("wrong kind")


def _side(r: Reader) -> str:
    v = r.u8()
    if v not in SIDE_NAMES:
        raise DecodeError("bad side")
    return SIDE_NAMES[v]


@dataclass(frozen=True, slots=True)
class OrderStatement:
    params_id: bytes
    order_ref: bytes
    pseudonym: bytes
    side: str
    symbol: str
    accepted_us: int
    C_L: Jac
    C_q: Jac

    def to_bytes(self) -> bytes:
        return b"".join([bytes([VERSION, KIND_ORDER]), self.params_id, self.order_ref, self.pseudonym,
                         bytes([SIDES[self.side]]), fixed_text(self.symbol, SYMBOL_BYTES),
                         self.accepted_us.to_bytes(8, "big", signed=True),
                         encode_point(self.C_L), encode_point(self.C_q)])

    @classmethod
    def read(cls, r: Reader) -> "OrderStatement":
        _header(r, KIND_ORDER)
        return cls(r.take(32), r.take(32), r.take(32), _side(r), read_text(r.take(SYMBOL_BYTES)), r.i64(),
                   r.point(), r.point())


@dataclass(frozen=True, slots=True)
class FillStatement:
    params_id: bytes
    log_id: bytes
    key_id: bytes
    order_leaf_hash: bytes
    side: str
    symbol: str
    fill_us: int
    trade_ref: bytes
    fill_seq: int
    prior_count: int
    C_L: Jac
    C_q: Jac
    C_prior: Jac
    C_f: Jac
    C_qf: Jac

    def to_bytes(self) -> bytes:
        return b"".join([bytes([VERSION, KIND_FILL]), self.params_id, self.log_id, self.key_id,
                         self.order_leaf_hash, bytes([SIDES[self.side]]), fixed_text(self.symbol, SYMBOL_BYTES),
                         self.fill_us.to_bytes(8, "big", signed=True), self.trade_ref,
                         self.fill_seq.to_bytes(2, "big"), self.prior_count.to_bytes(2, "big"),
                         encode_point(self.C_L), encode_point(self.C_q), encode_point(self.C_prior),
                         encode_point(self.C_f), encode_point(self.C_qf)])

    @classmethod
    def read(cls, r: Reader) -> "FillStatement":
        _header(r, KIND_FILL)
        params_id, log_id, key_id, olh = r.take(32), r.take(32), r.take(32), r.take(32)
        side, symbol, fill_us, tref = _side(r), read_text(r.take(SYMBOL_BYTES)), r.i64(), r.take(32)
        seq, prior = r.u16(), r.u16()
        C_L, C_q = r.point(), r.point()
        C_prior = r.point(allow_identity=prior == 0)
        if prior == 0 and C_prior[2] != 0:
            raise DecodeError("prior commitment without prior fills")
        return cls(params_id, log_id, key_id, olh, side, symbol, fill_us, tref, seq, prior, C_L, C_q, C_prior,
                   r.point(), r.point())


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    price_paise: int
    C: Jac


@dataclass(frozen=True, slots=True)
class PortfolioStatement:
    params_id: bytes
    log_id: bytes
    key_id: bytes
    pseudonym: bytes
    at_us: int
    threshold_paise: int
    holdings: tuple[Holding, ...]

    def to_bytes(self) -> bytes:
        parts = [bytes([VERSION, KIND_PORTFOLIO]), self.params_id, self.log_id, self.key_id, self.pseudonym,
                 self.at_us.to_bytes(8, "big", signed=True), self.threshold_paise.to_bytes(8, "big"),
                 bytes([len(self.holdings)])]
        for h in self.holdings:
            parts += [fixed_text(h.symbol, SYMBOL_BYTES), h.price_paise.to_bytes(8, "big"), encode_point(h.C)]
        return b"".join(parts)

    @classmethod
    def read(cls, r: Reader) -> "PortfolioStatement":
        _header(r, KIND_PORTFOLIO)
        head = (r.take(32), r.take(32), r.take(32), r.take(32), r.i64(), r.u64())
        count = r.u8()
        if not 1 <= count <= MAX_HOLDINGS:
            raise DecodeError("holding count")
        holdings = tuple(Holding(read_text(r.take(SYMBOL_BYTES)), r.u64(), r.point()) for _ in range(count))
        return cls(*head, holdings)

    @property
    def m(self) -> int:
        m = 1
        while m < len(self.holdings) + 1:
            m <<= 1
        return m


@dataclass(frozen=True, slots=True)
class TreeHead:
    log_id: bytes
    size: int
    root: bytes
    timestamp_us: int

    def to_bytes(self) -> bytes:
        return b"".join([bytes([VERSION, KIND_HEAD]), self.log_id, self.size.to_bytes(8, "big"), self.root,
                         self.timestamp_us.to_bytes(8, "big", signed=True)])

    @classmethod
    def read(cls, r: Reader) -> "TreeHead":
        _header(r, KIND_HEAD)
        return cls(r.take(32), r.u64(), r.take(32), r.i64())


def statement_hash(statement_bytes: bytes) -> bytes:
    return tagged_hash("GW-RECEIPT-ID", statement_bytes)


def receipt_id_for(statement_bytes: bytes) -> str:
    return "R-" + statement_hash(statement_bytes)[:12].hex()


def log_id_for(public_key: bytes) -> bytes:
    return tagged_hash("GW-LOG-ID", public_key)
