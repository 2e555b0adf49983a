"""The overview's chart, drawn on the server as inline SVG: no script, no CDN, and it
scales to any width. Colours come from admin.css classes (no style attributes)."""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from handlers.consent.stats import DayCount

WIDTH, HEIGHT = 720, 240
LEFT, BOTTOM, TOP = 44, 28, 12


def consent_chart(days: Sequence[DayCount], title: str) -> Markup:
    """Opt-outs and opt-ins per day as paired bars, with the highest value on the axis
    and a date under every seventh day."""
    peak = max([1, *(d.opt_outs for d in days), *(d.opt_ins for d in days)])
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(1, len(days))
    bar = max(1.0, slot * 0.4)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title chart-desc"'
        ' preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_summary(days))}</desc>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}"/>',
        f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - 8}" y2="{TOP}"/>',
        f'<text class="label" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{peak:,}</text>',
        f'<text class="label" x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    for index, day in enumerate(days):
        x = LEFT + index * slot + slot * 0.1
        for offset, value, css in ((0.0, day.opt_outs, "bar-out"), (bar, day.opt_ins, "bar-in")):
            height = plot_h * value / peak
            if value:
                parts.append(f'<rect class="{css}" x="{x + offset:.1f}" y="{TOP + plot_h - height:.1f}" '
                             f'width="{bar:.1f}" height="{max(height, 1):.1f}"/>')
        if index % 7 == (len(days) - 1) % 7:
            anchor = "end" if index == len(days) - 1 else "middle"
            parts.append(f'<text class="label" x="{x + bar:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
                         f'{day.day.strftime("%d %b")}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _summary(days: Sequence[DayCount]) -> str:
    outs, ins = sum(d.opt_outs for d in days), sum(d.opt_ins for d in days)
    busiest = max(days, key=lambda d: d.opt_outs, default=None)
    text = f"{outs:,} opt-outs and {ins:,} opt-ins in {len(days)} days."
    if busiest and busiest.opt_outs:
        text += f" Most opt-outs on {busiest.day.strftime('%d %B %Y')}: {busiest.opt_outs:,}."
    return text
