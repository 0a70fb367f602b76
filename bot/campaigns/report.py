"""``gridworks campaign report ID``: the funnel table on the terminal and an HTML report with charts.

Charts are matplotlib PNGs (embedded in the HTML and written beside it); without matplotlib the HTML carries
simple inline SVG bars instead, so the report never depends on an optional package.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from bot.campaigns.store import CampaignStore
from campaigns.definition import Campaign
from campaigns.funnel import STAGES, ArmFunnel, build, daily

_COLUMNS = (*STAGES, "opted_out", "failed", "skipped")


async def compute(store: CampaignStore, campaign: Campaign, now: datetime) -> tuple[list[ArmFunnel], dict]:
    rows = await store.funnel_rows(campaign.id)
    events = await store.events_of(campaign.id)
    funnel = build(rows, events, arms=[(a.name, a.holdout) for a in campaign.arms], now=now)
    return funnel, daily(rows)


def _cell(f: ArmFunnel, col: str) -> int:
    if col == "skipped":
        return sum(f.skipped_by_reason.values())
    return f.counts[col]


def table(campaign: Campaign, funnel: Sequence[ArmFunnel]) -> str:
    head = f"{'arm':18s}" + "".join(f"{c:>10s}" for c in _COLUMNS) + f"{'conv %':>9s}  uplift vs holdout (95% CI)"
    lines = [f"campaign {campaign.id}: {campaign.name}", head]
    for f in funnel:
        n = f.counts["targeted"] or 1
        up = "—" if f.uplift is None else (f"{f.uplift.diff * 100:+.2f} pt [{f.uplift.low * 100:+.2f}, "
                                           f"{f.uplift.high * 100:+.2f}] p={_p(f.uplift.p_value)}")
        lines.append(f"{f.arm + (' (holdout)' if f.holdout else ''):18s}"
                     + "".join(f"{_cell(f, c):>10d}" for c in _COLUMNS) + f"{100 * f.converted / n:>8.2f}%  {up}")
    for f in funnel:
        if f.failed_by_code or f.skipped_by_reason:
            parts = [f"failed {code}: {k}" for code, k in sorted(f.failed_by_code.items())]
            parts += [f"skipped {why}: {k}" for why, k in sorted(f.skipped_by_reason.items())]
            lines.append(f"  {f.arm}: " + ", ".join(parts))
    return "\n".join(lines)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _charts(funnel: Sequence[ArmFunnel], days: dict) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    stages = list(STAGES)
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(funnel))
    for i, f in enumerate(funnel):
        n = f.counts["targeted"] or 1
        xs = [x + i * width for x in range(len(stages))]
        bars = ax.bar(xs, [100 * f.counts[s] / n for s in stages], width,
                      label=f"{f.arm}{' (holdout)' if f.holdout else ''} (n={f.counts['targeted']})")
        ax.bar_label(bars, labels=[str(f.counts[s]) for s in stages], fontsize=7, padding=1)
    ax.set_xticks([x + width * (len(funnel) - 1) / 2 for x in range(len(stages))], stages)
    ax.set_ylabel("% of targeted users")
    ax.set_title("Funnel per arm")
    ax.legend(fontsize=8)
    out["funnel.png"] = _png(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 3))
    names, rates, errors = [], [], []
    for f in funnel:
        n = f.counts["targeted"] or 1
        rate = f.converted / n
        names.append(f"{f.arm}{' (holdout)' if f.holdout else ''}\nn={f.counts['targeted']}")
        rates.append(100 * rate)
        errors.append(100 * 1.96 * (rate * (1 - rate) / n) ** 0.5)
    bars = ax.bar(names, rates, yerr=errors, capsize=6, color=["#999999" if f.holdout else "#4477aa" for f in funnel])
    ax.bar_label(bars, labels=[f"{r:.2f}%" for r in rates], fontsize=8, padding=2)
    ax.set_ylabel("converted (trial or paid), %")
    ax.set_title("Conversion per arm (95% CI); uplift is measured against the holdout")
    out["conversion.png"] = _png(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 3))
    labels = list(days) or ["(none)"]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], [days.get(d, {}).get("sent", 0) for d in labels], 0.4, label="sent")
    ax.bar([x + 0.2 for x in xs], [days.get(d, {}).get("delivered", 0) for d in labels], 0.4, label="delivered")
    ax.set_xticks(list(xs), labels, rotation=0)
    ax.set_ylabel("messages")
    ax.set_title("Daily sends and deliveries (IST)")
    ax.legend(fontsize=8)
    out["daily.png"] = _png(fig)
    plt.close(fig)
    return out


def _svg_bars(values: Sequence[tuple[str, int]], title: str) -> str:
    top = max([v for _, v in values] + [1])
    bars = "".join(f'<rect x="{10 + i * 60}" y="{150 - 130 * v / top:.0f}" width="40" height="{130 * v / top:.0f}" '
                   f'fill="#4477aa"/><text x="{30 + i * 60}" y="165" font-size="9" text-anchor="middle">'
                   f'{html.escape(k)} {v}</text>' for i, (k, v) in enumerate(values))
    return f'<figure><figcaption>{html.escape(title)}</figcaption><svg width="{20 + 60 * len(values)}" ' \
           f'height="175">{bars}</svg></figure>'


def write_html(campaign: Campaign, funnel: Sequence[ArmFunnel], days: dict, out_dir: Path, now: datetime) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        charts = _charts(funnel, days)
    except ImportError:
        charts = {}
    for name, data in charts.items():
        (out_dir / name).write_bytes(data)
    if charts:
        figures = "".join(f'<img alt="{n}" src="data:image/png;base64,{base64.b64encode(d).decode()}">'
                          for n, d in charts.items())
    else:
        figures = "".join(_svg_bars([(s, f.counts[s]) for s in STAGES], f"funnel, arm {f.arm}") for f in funnel)
    head = "".join(f"<th>{c}</th>" for c in ("arm", *_COLUMNS, "conversion", "uplift vs holdout (95% CI)", "p"))
    body = ""
    for f in funnel:
        n = f.counts["targeted"] or 1
        up = f.uplift
        body += "<tr><td>" + html.escape(f.arm + (" (holdout)" if f.holdout else "")) + "</td>" + "".join(
            f"<td>{_cell(f, c)}</td>" for c in _COLUMNS) + f"<td>{100 * f.converted / n:.2f}%</td>" + (
            f"<td>{up.diff * 100:+.2f} pt [{up.low * 100:+.2f}, {up.high * 100:+.2f}]</td><td>{_p(up.p_value)}</td>"
            if up else "<td>—</td><td>—</td>") + "</tr>"
    failures = "".join(f"<li>{html.escape(f.arm)}: " + ", ".join(
        [f"failed {html.escape(k)} × {v}" for k, v in sorted(f.failed_by_code.items())]
        + [f"skipped {html.escape(k)} × {v}" for k, v in sorted(f.skipped_by_reason.items())]) + "</li>"
        for f in funnel if f.failed_by_code or f.skipped_by_reason)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Campaign {html.escape(campaign.id)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}
img{{max-width:100%;display:block;margin:1em 0}}</style></head><body>
<h1>{html.escape(campaign.name)}</h1><p>Campaign <code>{html.escape(campaign.id)}</code>, report at
{html.escape(now.isoformat(timespec='minutes'))}. Conversion = started the trial or paid within the attribution
window, over everyone targeted in the arm (the holdout's conversions are organic). Uplift: difference of
proportions with a 95% Wald interval; p from the pooled two-proportion z-test.</p>
<table><tr>{head}</tr>{body}</table><ul>{failures}</ul>{figures}</body></html>"""
    path = out_dir / f"campaign-{campaign.id}.html"
    path.write_text(page, encoding="utf-8")
    return path


def as_json(funnel: Sequence[ArmFunnel]) -> list[dict[str, Any]]:
    return [{"arm": f.arm, "holdout": f.holdout, **{c: _cell(f, c) for c in _COLUMNS}, "converted": f.converted,
             "failed_by_code": dict(f.failed_by_code), "skipped_by_reason": dict(f.skipped_by_reason),
             "uplift": None if f.uplift is None else {"diff": f.uplift.diff, "low": f.uplift.low,
                                                      "high": f.uplift.high, "p": f.uplift.p_value}}
            for f in funnel]


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"
