"""An inline SVG bar chart of the violence table: no script, no external file, readable without
colour (each series is also labelled and the table sits beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from services.dashboard.readmodel.stats import ViolenceRow

__all__ = ["violence_chart"]

_SERIES = (("shootings", "#1f4e79"), ("explosions", "#b34700"))


def violence_chart(rows: Sequence[ViolenceRow], *, title: str, series_labels: dict[str, str]) -> str:
    """Grouped bars per period for shootings and explosions, as an SVG string (escaped)."""
    width, height, left, bottom, top = 720, 260, 40, 40, 30
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max((max(r.shootings, r.explosions) for r in rows), default=0) or 1
    slot = plot_w / max(len(rows), 1)
    bar = max(2.0, min(28.0, slot / 3))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="chart-title" class="chart"><title id="chart-title">{escape(title)}</title>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" class="axis"/>']
    for i, (name, colour) in enumerate(_SERIES):
        x = left + i * 160.0
        legend = escape(series_labels.get(name, name))
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{x + 16}" y="16" class="legend">{legend}</text>')
    for index, row in enumerate(rows):
        label = f"{row.year}" if row.month is None else f"{row.year}-{row.month:02d}"
        x0 = left + index * slot + slot / 2 - bar
        for offset, (name, colour) in enumerate(_SERIES):
            value = int(getattr(row, name))
            h = plot_h * value / peak
            x = x0 + offset * bar
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{escape(label)}: {value} '
                         f'{escape(series_labels.get(name, name))}</title></rect>')
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h - h - 3:.1f}" class="value" '
                         f'text-anchor="middle">{value}</text>')
        parts.append(f'<text x="{x0 + bar:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                     f'class="tick">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
