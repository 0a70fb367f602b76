"""Indian number and date formatting: ₹1,23,456.50, IST dates. Money arrives as integer paise."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

# Its own IST (not engine.clock's) so that formatting stays a leaf module that intents/ can use too.
IST = ZoneInfo("Asia/Kolkata")


def group_indian(n: int) -> str:
    """1234567 → '12,34,567' (lakh/crore grouping)."""
    sign = "-" if n < 0 else ""
    s = str(abs(n))
    if len(s) <= 3:
        return sign + s
    head, tail = s[:-3], s[-3:]
    parts = []
    while len(head) > 2:
        parts.insert(0, head[-2:])
        head = head[:-2]
    if head:
        parts.insert(0, head)
    return sign + ",".join(parts) + "," + tail


def rupees(paise: int, *, symbol: bool = True, always_decimals: bool = True) -> str:
    """Format integer paise as Indian rupees: 12345650 → '₹1,23,456.50'."""
    sign = "-" if paise < 0 else ""
    whole, frac = divmod(abs(int(paise)), 100)
    body = group_indian(whole)
    if always_decimals or frac:
        body += f".{frac:02d}"
    return f"{sign}{'₹' if symbol else ''}{body}"


def quantity(n: int) -> str:
    return group_indian(int(n))


def percent(value: float, *, signed: bool = True) -> str:
    return f"{value:+.2f}%" if signed else f"{value:.2f}%"


def ist_datetime(dt: datetime) -> str:
    """'23 Nov 2026, 10:00 IST' — digits and month abbreviations are universally understood in chat."""
    local = dt.astimezone(IST)
    return local.strftime("%d %b %Y, %H:%M IST")


def ist_time(dt: datetime) -> str:
    return dt.astimezone(IST).strftime("%H:%M")


def ist_date(dt: datetime | date) -> str:
    """'23 Nov 2026' for an instant (in IST) or a calendar day."""
    return (dt.astimezone(IST) if isinstance(dt, datetime) else dt).strftime("%d %b %Y")
