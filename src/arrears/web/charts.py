"""Inline SVG charts: no script, no build step; each carries a title and a text alternative."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")


def stacked_bars(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    width: int = 720,
    height: int = 240,
    fmt: str = "{:,.0f}",
) -> str:
    """One bar per label, stacked by series (e.g. dates × buckets)."""
    pad_l, pad_b, pad_t, legend_w = 56, 28, 10, 70
    plot_w, plot_h = width - pad_l - legend_w, height - pad_b - pad_t
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    n = max(len(labels), 1)
    bar_w = plot_w / n
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for k in range(5):
        y = pad_t + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{pad_l}" x2="{pad_l + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ef"/>'
            f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt.format(top * k / 4))}</text>"
        )
    for i, label in enumerate(labels):
        x = pad_l + i * bar_w
        y = pad_t + plot_h
        for j, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / top
            y -= h
            color = PALETTE[j % len(PALETTE)]
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{escape(label)} {escape(name)}: '
                f"{escape(fmt.format(values[i]))}</title></rect>"
            )
        if n <= 12 or i % max(n // 8, 1) == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    for j, name in enumerate(series):
        y = pad_t + 14 * j
        parts.append(
            f'<rect x="{width - legend_w + 8}" y="{y}" width="10" height="10" '
            f'fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{width - legend_w + 22}" y="{y + 9}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _text_width(text: str) -> float:
    return sum(11.0 if ord(ch) > 0x2E80 else 6.5 for ch in text)


def hbars(
    title: str,
    rows: Sequence[tuple[str, float]],
    *,
    width: int = 420,
    fmt: str = "{:.1%}",
    scale: float | None = None,
) -> str:
    """Horizontal bars, one per row (label, value); percentages by default."""
    row_h, pad_r = 24, 60
    # the label column fits the longest label (11px text: about 6.5px a Latin character, 11px
    # a Chinese one); a long label widens the drawing (it scales to its card) rather than being
    # cut off at the left edge
    longest = max((_text_width(label) for label, _ in rows), default=0)
    pad_l = int(max(longest + 12, 60))
    width = max(width, pad_l + pad_r + 200)
    height = row_h * max(len(rows), 1) + 8
    top = scale or max((v for _, v in rows), default=0) or 1
    parts = [
        f'<svg class="chart hbars" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = 4 + i * row_h
        w = (width - pad_l - pad_r) * (value / top)
        parts.append(
            f'<text x="{pad_l - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{pad_l}" y="{y + 3}" width="{max(w, 0):.1f}" height="{row_h - 8}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{pad_l + max(w, 0) + 4:.1f}" y="{y + 15}">{escape(fmt.format(value))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def lines(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    width: int = 720,
    height: int = 220,
    fmt: str = "{:,.0f}",
) -> str:
    pad_l, pad_b, pad_t, legend_w = 56, 28, 10, 90
    plot_w, plot_h = width - pad_l - legend_w, height - pad_b - pad_t
    top = max((v for s in series.values() for v in s), default=0) or 1
    n = max(len(labels) - 1, 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for k in range(5):
        y = pad_t + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{pad_l}" x2="{pad_l + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ef"/>'
            f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt.format(top * k / 4))}</text>"
        )
    for j, (name, values) in enumerate(series.items()):
        pts = " ".join(
            f"{pad_l + plot_w * i / n:.1f},{pad_t + plot_h - plot_h * v / top:.1f}"
            for i, v in enumerate(values)
        )
        color = PALETTE[j % len(PALETTE)]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>')
        parts.append(
            f'<rect x="{width - legend_w + 8}" y="{pad_t + 14 * j}" width="10" height="10" '
            f'fill="{color}"/><text x="{width - legend_w + 22}" y="{pad_t + 14 * j + 9}">'
            f"{escape(name)}</text>"
        )
    step = max(len(labels) // 8, 1)
    for i, label in enumerate(labels):
        if i % step == 0:
            parts.append(
                f'<text x="{pad_l + plot_w * i / n:.1f}" y="{height - 10}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
