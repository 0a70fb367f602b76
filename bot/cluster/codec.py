"""JSON codec for the engine's values when they cross a process boundary (engine RPC, event streams).

Why not pickle: the wire is read by other processes and versions, must be inspectable in ``redis-cli``, and
must never construct a type it was not told about. Why generic: the ``engine.api`` dataclasses grow fields;
encoding walks ``dataclasses.fields`` with their resolved type hints, so a new field needs no codec change.

Two encodings, one rule each:

* *typed* (a dataclass field, or any value whose type the caller names): datetimes and dates are ISO strings,
  enums their value, tuples/sequences JSON lists, nested dataclasses tagged dicts;
* *self-describing* (``Any``, top-level values, unions of several types): dataclasses are ``{"$type": name,
  ...}``, and the few non-JSON values are tagged: ``{"$dt": ...}``, ``{"$date": ...}``, ``{"$enum": name,
  "value": ...}``, ``{"$tuple": [...]}``, and a dict holding a ``$`` key is wrapped as ``{"$map": {...}}``.

Datetimes keep their offset (``2026-11-23T10:00:00+05:30``) and, for an IANA zone, its name
(``...+05:30[Asia/Kolkata]``) so that a round trip gives back an equal value in the same zone.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping as AbcMapping, Sequence as AbcSequence
from datetime import date, datetime
from functools import cache
from typing import Any, Union
from zoneinfo import ZoneInfo

import engine.api as api

__all__ = ["WireError", "dumps", "from_wire", "loads", "register", "registered", "to_wire"]


class WireError(ValueError):
    """A value cannot be encoded, or a wire value does not decode to the expected type."""


_TYPES: dict[str, type] = {}


def register(cls: type) -> type:
    """Allow ``cls`` (a dataclass or an Enum) on the wire under its class name."""
    if not (dataclasses.is_dataclass(cls) or (isinstance(cls, type) and issubclass(cls, enum.Enum))):
        raise TypeError(f"{cls!r} is neither a dataclass nor an Enum")
    known = _TYPES.get(cls.__name__)
    if known is not None and known is not cls:
        raise TypeError(f"two wire types named {cls.__name__}")
    _TYPES[cls.__name__] = cls
    return cls


def registered() -> dict[str, type]:
    return dict(_TYPES)


for _name in dir(api):
    _obj = getattr(api, _name)
    if isinstance(_obj, type) and _obj.__module__ == api.__name__ and (
            dataclasses.is_dataclass(_obj) or issubclass(_obj, enum.Enum)):
        register(_obj)


@cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init)


# -- datetimes ---------------------------------------------------------------------------------------------
def _dt_out(v: datetime) -> str:
    text = v.isoformat()
    if isinstance(v.tzinfo, ZoneInfo) and v.tzinfo.key:
        text += f"[{v.tzinfo.key}]"
    return text


def _dt_in(text: str) -> datetime:
    if not isinstance(text, str):
        raise WireError(f"expected an ISO datetime string, got {type(text).__name__}")
    zone = None
    if text.endswith("]") and "[" in text:
        text, _, key = text[:-1].partition("[")
        zone = ZoneInfo(key)
    value = datetime.fromisoformat(text)
    if zone is None:
        return value
    offset = value.utcoffset()
    wall = value.replace(tzinfo=zone)
    if wall.utcoffset() != offset:               # an ambiguous or skipped wall time: the other fold
        wall = wall.replace(fold=1)
        if wall.utcoffset() != offset:           # the zone's rules changed: keep the instant
            wall = value.astimezone(zone)
    return wall


def _date_in(text: str) -> date:
    if not isinstance(text, str):
        raise WireError(f"expected an ISO date string, got {type(text).__name__}")
    return date.fromisoformat(text)


# -- self-describing ---------------------------------------------------------------------------------------
def to_wire(value: Any, hint: Any = Any) -> Any:
    """The JSON-ready form of ``value``: with ``hint`` (a type) the typed form, else self-describing."""
    return _enc(value, hint)


def from_wire(data: Any, hint: Any = Any) -> Any:
    """The value :func:`to_wire` encoded (with the same ``hint``)."""
    return _dec(data, hint)


def dumps(value: Any, hint: Any = Any) -> str:
    return json.dumps(_enc(value, hint), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes, hint: Any = Any) -> Any:
    return _dec(json.loads(text), hint)


def _enc_any(v: Any) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, enum.Enum):
        cls = type(v)
        if _TYPES.get(cls.__name__) is not cls:
            raise WireError(f"enum {cls.__name__} is not registered for the wire")
        return {"$enum": cls.__name__, "value": v.value}
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, datetime):
        return {"$dt": _dt_out(v)}
    if isinstance(v, date):
        return {"$date": v.isoformat()}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _enc_dataclass(v)
    if isinstance(v, tuple):
        return {"$tuple": [_enc_any(x) for x in v]}
    if isinstance(v, list):
        return [_enc_any(x) for x in v]
    if isinstance(v, AbcMapping):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise WireError(f"dict keys must be strings on the wire, got {type(k).__name__}")
            out[k] = _enc_any(x)
        return {"$map": out} if any(k.startswith("$") for k in out) else out
    raise WireError(f"{type(v).__name__} cannot cross the wire")


def _dec_any(d: Any) -> Any:
    if d is None or isinstance(d, (bool, int, float, str)):
        return d
    if isinstance(d, list):
        return [_dec_any(x) for x in d]
    if not isinstance(d, dict):
        raise WireError(f"unexpected wire value {type(d).__name__}")
    if "$type" in d:
        return _dec_dataclass(d, None)
    if "$dt" in d:
        return _dt_in(d["$dt"])
    if "$date" in d:
        return _date_in(d["$date"])
    if "$enum" in d:
        cls = _TYPES.get(d["$enum"])
        if cls is None or not issubclass(cls, enum.Enum):
            raise WireError(f"unknown enum {d['$enum']!r}")
        return cls(d["value"])
    if "$tuple" in d:
        return tuple(_dec_any(x) for x in d["$tuple"])
    if "$map" in d:
        return {k: _dec_any(x) for k, x in d["$map"].items()}
    return {k: _dec_any(x) for k, x in d.items()}


# -- typed -------------------------------------------------------------------------------------------------
def _enc_dataclass(v: Any) -> dict[str, Any]:
    cls = type(v)
    if _TYPES.get(cls.__name__) is not cls:
        raise WireError(f"dataclass {cls.__name__} is not registered for the wire")
    out: dict[str, Any] = {"$type": cls.__name__}
    for name, hint in _fields(cls):
        try:
            out[name] = _enc(getattr(v, name), hint)
        except WireError as exc:
            raise WireError(f"{cls.__name__}.{name}: {exc}") from None
    return out


def _dec_dataclass(d: Any, cls: type | None) -> Any:
    if not isinstance(d, dict):
        raise WireError(f"expected an object, got {type(d).__name__}")
    name = d.get("$type")
    found = _TYPES.get(name) if isinstance(name, str) else None
    if found is None or not dataclasses.is_dataclass(found):
        raise WireError(f"unknown wire type {name!r}")
    if cls is not None and not issubclass(found, cls):
        raise WireError(f"expected {cls.__name__}, got {name}")
    kwargs = {}
    for field_name, hint in _fields(found):
        if field_name in d:
            try:
                kwargs[field_name] = _dec(d[field_name], hint)
            except (WireError, ValueError, TypeError) as exc:
                raise WireError(f"{name}.{field_name}: {exc}") from None
    try:
        return found(**kwargs)
    except TypeError as exc:
        raise WireError(f"{name}: {exc}") from None


def _union_args(hint: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(hint)
    return None


def _enc(v: Any, hint: Any) -> Any:
    if hint is Any or hint is object:
        return _enc_any(v)
    args = _union_args(hint)
    if args is not None:
        if v is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        return _enc(v, rest[0]) if len(rest) == 1 else _enc_any(v)
    if hint is type(None):
        if v is not None:
            raise WireError(f"expected None, got {type(v).__name__}")
        return None
    origin = typing.get_origin(hint) or hint
    if isinstance(origin, type):
        if dataclasses.is_dataclass(origin):
            if not isinstance(v, origin):
                raise WireError(f"expected {origin.__name__}, got {type(v).__name__}")
            return _enc_dataclass(v)
        if issubclass(origin, enum.Enum):
            if not isinstance(v, origin):
                raise WireError(f"expected {origin.__name__}, got {type(v).__name__}")
            return v.value
        if origin is datetime:
            if not isinstance(v, datetime):
                raise WireError(f"expected datetime, got {type(v).__name__}")
            return _dt_out(v)
        if origin is date:
            if not isinstance(v, date) or isinstance(v, datetime):
                raise WireError(f"expected date, got {type(v).__name__}")
            return v.isoformat()
        if origin is bool:
            if not isinstance(v, bool):
                raise WireError(f"expected bool, got {type(v).__name__}")
            return v
        if origin is int:
            if not isinstance(v, int) or isinstance(v, bool):
                raise WireError(f"expected int, got {type(v).__name__}")
            return v
        if origin is float:
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise WireError(f"expected float, got {type(v).__name__}")
            return v
        if origin is str:
            if not isinstance(v, str):
                raise WireError(f"expected str, got {type(v).__name__}")
            return v
        if issubclass(origin, AbcMapping):
            value_hint = (typing.get_args(hint) or (str, Any))[1]
            if not isinstance(v, AbcMapping):
                raise WireError(f"expected a mapping, got {type(v).__name__}")
            out = {}
            for k, x in v.items():
                if not isinstance(k, str):
                    raise WireError(f"dict keys must be strings on the wire, got {type(k).__name__}")
                out[k] = _enc(x, value_hint)
            return out
        if issubclass(origin, (tuple, list, AbcSequence)) and not issubclass(origin, (str, bytes)):
            if not isinstance(v, (tuple, list)):
                raise WireError(f"expected a sequence, got {type(v).__name__}")
            return [_enc(x, h) for x, h in zip(v, _item_hints(hint, len(v)))]
    raise WireError(f"no wire form for type {hint!r}")


def _item_hints(hint: Any, n: int) -> list[Any]:
    args = typing.get_args(hint)
    if not args:
        return [Any] * n
    if typing.get_origin(hint) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if len(args) != n:
            raise WireError(f"expected {len(args)} items, got {n}")
        return list(args)
    return [args[0]] * n


def _dec(d: Any, hint: Any) -> Any:
    if hint is Any or hint is object:
        return _dec_any(d)
    args = _union_args(hint)
    if args is not None:
        if d is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        return _dec(d, rest[0]) if len(rest) == 1 else _dec_any(d)
    if hint is type(None):
        if d is not None:
            raise WireError("expected null")
        return None
    origin = typing.get_origin(hint) or hint
    if isinstance(origin, type):
        if dataclasses.is_dataclass(origin):
            return _dec_dataclass(d, origin)
        if issubclass(origin, enum.Enum):
            return origin(d)
        if origin is datetime:
            return _dt_in(d)
        if origin is date:
            return _date_in(d)
        if origin in (bool, int, float, str):
            ok = (isinstance(d, bool) if origin is bool else
                  isinstance(d, int) and not isinstance(d, bool) if origin is int else
                  isinstance(d, (int, float)) and not isinstance(d, bool) if origin is float else
                  isinstance(d, str))
            if not ok:
                raise WireError(f"expected {origin.__name__}, got {type(d).__name__}")
            return d
        if issubclass(origin, AbcMapping):
            if not isinstance(d, dict):
                raise WireError(f"expected an object, got {type(d).__name__}")
            value_hint = (typing.get_args(hint) or (str, Any))[1]
            return {k: _dec(x, value_hint) for k, x in d.items()}
        if issubclass(origin, (tuple, list, AbcSequence)) and not issubclass(origin, (str, bytes)):
            if not isinstance(d, list):
                raise WireError(f"expected a list, got {type(d).__name__}")
            items = [_dec(x, h) for x, h in zip(d, _item_hints(hint, len(d)))]
            return tuple(items) if issubclass(origin, tuple) else items
    raise WireError(f"no wire form for type {hint!r}")

