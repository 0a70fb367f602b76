"""A PRO account's engine rows at rest: sealed (AES-GCM) under the data keys, with an opaque account id.

The engine works on plaintext in memory; only the rows it writes are sealed. A sealed row keeps in clear
what the database needs to stay a database -- its key, its order/trade/entry id, sequence numbers, the
order's stage (restart reloads working orders), timestamps -- and holds everything else (symbols, sides,
quantities, prices, amounts, charges, statuses) in its ``sealed`` column as one ``gw1`` token whose
associated data names the row (``eng_trades:<trade id>``, ...), so a token moved onto another row fails.
The clear columns of a sealed row hold neutral values (``""``, ``0``, ``NULL``).

Account ids: a private account is stored under a random id (``p_…``); the table ``eng_account_ids`` maps it
back, the real id sealed. Holdings and positions are keyed by account *and symbol*, so a sealed row's symbol
column holds a random per-row tag instead (remembered in memory, reloaded from the rows at restart).

The keyring is anything with ``encrypt_text(text, aad=)``, ``decrypt_text(token, aad=)`` and
``is_current(token)`` -- :class:`bot.stores.crypto.DataCipher`, passed in by the composition root (the engine
never reads keys itself). An account becomes private at its first PRO order, or when an operator command
(``users create --tier pro``, ``users set-tier … pro``, ``users reseal``) asks the engine to seal it; it stays
private (a downgrade does not unseal). Making it private seals its existing rows in one transaction
(:meth:`engine.store.EngineStore.privatize`).
"""

from __future__ import annotations

import json
import secrets
from datetime import date
from typing import Any, Mapping, Protocol

from sqlalchemy import Boolean, Table

from engine.tables import accounts, holdings, order_events, orders, positions, postings, trades

OPAQUE_PREFIX = "p_"
SEALED_KEY_PREFIX = "sealed:"
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


class Keyring(Protocol):
    def encrypt_text(self, text: str, *, aad: str) -> str: ...

    def decrypt_text(self, token: str, *, aad: str) -> str: ...

    def is_current(self, token: str) -> bool: ...


class SealedRowsWithoutKeys(RuntimeError):
    """The database holds sealed rows but the engine was given no data keys to read them."""


#: Per table: the columns kept in clear on a sealed row (the rest go into ``sealed``).
CLEAR: dict[str, frozenset[str]] = {
    "eng_accounts": frozenset({"account", "tier", "created_at"}),
    "eng_orders": frozenset({"order_id", "seq", "client_order_id", "account", "placed_at", "updated_at",
                             "release_at", "stage", "tier", "source_message_id"}),
    "eng_order_events": frozenset({"id", "order_id", "at"}),
    "eng_trades": frozenset({"trade_id", "seq", "order_id", "account", "at", "trade_day"}),
    "eng_holdings": frozenset({"account"}),
    "eng_positions": frozenset({"account", "day"}),
}
TABLES: dict[str, Table] = {t.name: t for t in (accounts, orders, order_events, trades, holdings, positions,
                                                postings)}


def _neutral(table: Table) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in table.columns:
        if c.name == "sealed" or c.primary_key and c.autoincrement is True:
            continue
        if c.nullable:
            out[c.name] = None
        elif isinstance(c.type, Boolean):
            out[c.name] = False
        elif c.type.python_type is str:
            out[c.name] = ""
        else:
            out[c.name] = 0
    return out


_NEUTRAL = {name: _neutral(t) for name, t in TABLES.items()}
_SEALED_COLS = {name: tuple(c.name for c in TABLES[name].columns
                            if c.name not in clear and c.name != "sealed" and c.name != "id")
                for name, clear in CLEAR.items()}


def aad(table: str, *parts: Any) -> str:
    return ":".join((table, *(str(p) for p in parts)))


class Sealer:
    """Which accounts are private, their opaque ids and row tags, and the sealing of rows for them."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self.ids: dict[str, str] = {}            # account -> opaque id
        self.accounts: dict[str, str] = {}       # opaque id -> account
        self.cash_keys: dict[str, str] = {}      # "cash:<account>" -> account
        self.tags: dict[tuple, str] = {}         # (account, symbol) / (account, day, symbol) -> row tag

    # -- state --------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.ids.clear()
        self.accounts.clear()
        self.cash_keys.clear()
        self.tags.clear()

    def is_private(self, account: str) -> bool:
        return account in self.ids

    def remember(self, account: str, opaque: str) -> None:
        self.ids[account] = opaque
        self.accounts[opaque] = account
        self.cash_keys[f"cash:{account}"] = account

    def db_account(self, account: str) -> str:
        """The id the account's rows carry in the database."""
        return self.ids.get(account, account)

    def new_opaque(self) -> str:
        return OPAQUE_PREFIX + secrets.token_hex(12)

    def tag(self, key: tuple) -> str:
        t = self.tags.get(key)
        if t is None:
            t = self.tags[key] = secrets.token_hex(8)
        return t

    # -- tokens -------------------------------------------------------------------------------------
    def seal(self, payload: Any, where: str) -> str:
        return self.keyring.encrypt_text(_DUMPS(payload), aad=where)

    def open(self, token: str, where: str) -> Any:
        return json.loads(self.keyring.decrypt_text(token, aad=where))

    def id_row(self, account: str, opaque: str) -> dict[str, Any]:
        return {"id": opaque, "sealed": self.seal({"account": account}, aad("eng_account_ids", opaque))}

    def load_id(self, opaque: str, token: str) -> None:
        self.remember(self.open(token, aad("eng_account_ids", opaque))["account"], opaque)

    # -- rows: seal ---------------------------------------------------------------------------------
    def _generic(self, table: str, row: Mapping[str, Any], where: str, **clear: Any) -> dict[str, Any]:
        keep = CLEAR[table]
        out = dict(_NEUTRAL[table])
        for k in keep:
            if k in row:
                out[k] = row[k]
        out.update(clear)
        out["sealed"] = self.seal({k: row[k] for k in _SEALED_COLS[table] if k in row}, where)
        return out

    def account_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        opaque = self.ids[row["account"]]
        return self._generic("eng_accounts", row, aad("eng_accounts", opaque), account=opaque)

    def order_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return self._generic("eng_orders", row, aad("eng_orders", row["order_id"]),
                             account=self.ids[row["account"]])

    def event_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return self._generic("eng_order_events", row, aad("eng_order_events", row["order_id"]))

    def trade_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return self._generic("eng_trades", row, aad("eng_trades", row["trade_id"]),
                             account=self.ids[row["account"]])

    def holding_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        opaque = self.ids[row["account"]]
        tag = self.tag((row["account"], row["symbol"]))
        return self._generic("eng_holdings", row, aad("eng_holdings", opaque, tag), account=opaque, symbol=tag)

    def position_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        opaque = self.ids[row["account"]]
        day: date = row["day"]
        tag = self.tag((row["account"], day, row["symbol"]))
        return self._generic("eng_positions", row, aad("eng_positions", opaque, day.isoformat(), tag),
                             account=opaque, symbol=tag)

    def posting_row(self, entry_id: int, account: str, legs: list[tuple[str, int]], kind: str, ref: str,
                    at: Any) -> dict[str, Any]:
        """One stored row for a whole ledger entry (or one leg of it, when sealing history): the legs, amounts
        and reference sealed, ``amount`` 0 so SQL sums over clear rows stay right."""
        return {"entry_id": entry_id, "account_key": SEALED_KEY_PREFIX + self.ids[account], "amount": 0,
                "kind": kind, "ref": "", "at": at,
                "sealed": self.seal({"legs": [list(leg) for leg in legs], "ref": ref},
                                    aad("eng_postings", entry_id))}

    def postings(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Split posting rows into (clear rows, sealed rows): an entry with a leg on a private account's cash
        is stored as one sealed row."""
        cash = self.cash_keys
        entries: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            entries.setdefault(r["entry_id"], []).append(r)
        clear: list[dict[str, Any]] = []
        sealed: list[dict[str, Any]] = []
        for entry_id, legs in entries.items():
            owner = next((cash[r["account_key"]] for r in legs if r["account_key"] in cash), None)
            if owner is None:
                clear += legs
            else:
                first = legs[0]
                sealed.append(self.posting_row(entry_id, owner, [(r["account_key"], r["amount"]) for r in legs],
                                               first["kind"], first["ref"], first["at"]))
        return clear, sealed

    # -- rows: open ---------------------------------------------------------------------------------
    def _account_of(self, opaque: str) -> str:
        return self.accounts.get(opaque, opaque)

    def open_row(self, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """A stored row as the engine wrote it (clear rows are returned as they are)."""
        out = dict(row)
        token = out.pop("sealed", None)
        if token is None:
            return out
        where = where_of(table, row)
        out.update(self.open(token, where))
        if "account" in out:
            plain = self._account_of(row["account"])
            if table == "eng_holdings":
                self.tags[(plain, out["symbol"])] = row["symbol"]
            elif table == "eng_positions":
                self.tags[(plain, _as_date(row["day"]), out["symbol"])] = row["symbol"]
            out["account"] = plain
        return out

    def open_posting(self, row: Mapping[str, Any]) -> tuple[list[tuple[str, int]], str]:
        data = self.open(row["sealed"], aad("eng_postings", row["entry_id"]))
        return [(k, int(a)) for k, a in data["legs"]], data["ref"]

    def reseal(self, token: str, where: str) -> str | None:
        """The token under the current key, or None when it already is."""
        if self.keyring.is_current(token):
            return None
        return self.keyring.encrypt_text(self.keyring.decrypt_text(token, aad=where), aad=where)


def _as_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v))


def where_of(table: str, row: Mapping[str, Any]) -> str:
    """The associated data a stored sealed row of ``table`` was sealed with (for rotation)."""
    if table == "eng_account_ids":
        return aad(table, row["id"])
    if table == "eng_accounts":
        return aad(table, row["account"])
    if table in ("eng_orders", "eng_order_events"):
        return aad(table, row["order_id"])
    if table == "eng_trades":
        return aad(table, row["trade_id"])
    if table == "eng_postings":
        return aad(table, row["entry_id"])
    if table == "eng_holdings":
        return aad(table, row["account"], row["symbol"])
    if table == "eng_positions":
        day = row["day"]
        return aad(table, row["account"], day.isoformat() if hasattr(day, "isoformat") else day, row["symbol"])
    raise ValueError(table)

