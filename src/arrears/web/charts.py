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


def scatter_intervals(
    title: str,
    points: Sequence[tuple[str, tuple[float, float, float], tuple[float, float, float], int]],
    *,
    x_label: str,
    y_label: str,
    width: int = 720,
    height: int = 300,
    x_fmt: str = "{:.2f}",
    y_fmt: str = "{:,.0f}",
) -> str:
    """Points with 95% intervals on both axes: (label, x (mean, low, high), y (mean, low,
    high), colour index). Each point is drawn with its label (a short mark such as a number)."""
    pad_l, pad_b, pad_t, pad_r = 64, 40, 12, 16
    plot_w, plot_h = width - pad_l - pad_r, height - pad_b - pad_t
    xs = [v for _, x, _, _ in points for v in x[1:]] or [0.0, 1.0]
    ys = [v for _, _, y, _ in points for v in y[1:]] or [0.0, 1.0]
    x0, x1 = min(0.0, min(xs)), max(xs) * 1.05 or 1.0
    y0, y1 = min(ys), max(ys)
    y0, y1 = y0 - 0.05 * ((y1 - y0) or 1), y1 + 0.05 * ((y1 - y0) or 1)

    def px(v: float) -> float:
        return pad_l + plot_w * (v - x0) / ((x1 - x0) or 1)

    def py(v: float) -> float:
        return pad_t + plot_h - plot_h * (v - y0) / ((y1 - y0) or 1)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for k in range(5):
        yv, xv = y0 + (y1 - y0) * k / 4, x0 + (x1 - x0) * k / 4
        parts.append(
            f'<line x1="{pad_l}" x2="{pad_l + plot_w}" y1="{py(yv):.1f}" y2="{py(yv):.1f}" '
            f'stroke="#e3e7ef"/><text x="{pad_l - 4}" y="{py(yv) + 4:.1f}" text-anchor="end">'
            f'{escape(y_fmt.format(yv))}</text><text x="{px(xv):.1f}" y="{pad_t + plot_h + 14}" '
            f'text-anchor="middle">{escape(x_fmt.format(xv))}</text>'
        )
    for label, (xm, xl, xh), (ym, yl, yh), colour in points:
        c = PALETTE[colour % len(PALETTE)]
        parts.append(
            f'<line x1="{px(xl):.1f}" x2="{px(xh):.1f}" y1="{py(ym):.1f}" y2="{py(ym):.1f}" '
            f'stroke="{c}"/><line x1="{px(xm):.1f}" x2="{px(xm):.1f}" y1="{py(yl):.1f}" '
            f'y2="{py(yh):.1f}" stroke="{c}"/><circle cx="{px(xm):.1f}" cy="{py(ym):.1f}" r="4" '
            f'fill="{c}"/><text x="{px(xm) + 6:.1f}" y="{py(ym) - 6:.1f}">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="{pad_l + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="12" y="{pad_t + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {pad_t + plot_h / 2:.1f})">{escape(y_label)}</text></svg>'
    )
    return "".join(parts)
