"""Inline-SVG line charts for pages (leverage simulator, stress and Monte Carlo results).

Pure: no Django imports. The output is one self-contained <svg> element (no script, no
external reference), so it renders under a strict content security policy and prints.
Values may be int, float or Decimal; they become float only for geometry.
"""

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape

Number = int | float | Decimal


PALETTE = ("#0b4f8a", "#1e7a46", "#b7791f", "#b42318", "#6941c6", "#0e7490", "#475467")


def _frame(title, width: int, height: int, left: int, top: int, plot_w: float, plot_h: float):
    """The opening of every chart: the SVG element with its accessible title, the visible
    title, and the white plot area."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="18" font-size="13" font-weight="600">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        f'stroke="#dde2e8"/>',
    ]


def _grid(out: list, y_ticks, py, fy, left: int, plot_w: float) -> None:
    """Horizontal grid lines at the y ticks, with their labels on the left."""
    for yv in y_ticks:
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{py(yv):.1f}" y2="{py(yv):.1f}" '
            f'stroke="#eef1f4"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{py(yv) + 4:.1f}" text-anchor="end" '
            f'fill="#5b6675">{fy(yv)}</text>'
        )


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    span = high - low if high > low else 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _plain(value: float) -> str:
    return f"{value:,.0f}"


def _two_places(value: float) -> str:
    return f"{value:,.2f}"


def line_chart(
    series: Mapping[str, Sequence[tuple[Number, Number]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_percent: bool = True,
    y_percent: bool = True,
    width: int = 560,
    height: int = 320,
    ticks: int = 5,
) -> str:
    """One polyline per named series, with axes, a zero line when the range spans zero,
    tick labels and a legend."""
    left, right, top, bottom = 64, 120, 30, 44
    points = [(float(x), float(y)) for pts in series.values() for x, y in pts]
    if not points:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    # x spans the data exactly (ticks inside it); y is widened to round ticks
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    x_ticks = [t for t in nice_ticks(x0, x1, ticks) if x0 - 1e-12 <= t <= x1 + 1e-12]
    y_ticks = nice_ticks(min(min(ys), 0.0), max(max(ys), 0.0), ticks)
    y0, y1 = y_ticks[0], y_ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * plot_h

    fx = _percent if x_percent else _plain
    fy = _percent if y_percent else _plain
    out = _frame(title, width, height, left, top, plot_w, plot_h)
    for xv in x_ticks:
        out.append(
            f'<text x="{px(xv):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'fill="#5b6675">{fx(xv)}</text>'
        )
    _grid(out, y_ticks, py, fy, left, plot_w)
    if y0 < 0 < y1:
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{py(0):.1f}" y2="{py(0):.1f}" '
            f'stroke="#98a2b3" stroke-dasharray="4 3"/>'
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'fill="#1c2430">{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#1c2430" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for n, (name, pts) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        path = " ".join(f"{px(float(x)):.1f},{py(float(y)):.1f}" for x, y in pts)
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        ly = top + 14 + n * 18
        out.append(
            f'<line x1="{left + plot_w + 12}" x2="{left + plot_w + 32}" y1="{ly - 4}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="3"/>'
        )
        out.append(f'<text x="{left + plot_w + 38}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _arc_point(cx: float, cy: float, r: float, fraction: float) -> tuple[float, float]:
    """A point on the upper half circle: fraction 0 is the left end, 1 the right end."""
    angle = math.pi * (1 - fraction)
    return cx + r * math.cos(angle), cy - r * math.sin(angle)


def gauge(
    value: Number | None,
    *,
    lines: Mapping[str, Number],
    title: str,
    value_label: str,
    low: Number = 1,
    high: Number = 4,
    width: int = 320,
    height: int = 250,
) -> str:
    """A half-dial gauge of a maintenance ratio with its lines.

    `lines` maps a label to a ratio ("Call 130%": 1.3, ...): each is a coloured tick on the dial
    and an entry of the legend under it (the lines sit close together, so their names go in the
    legend, not on the dial). Bands: below the lowest line red, up to the second amber, above
    the highest green. `value` None (no debt) puts the needle at the top of the scale;
    `value_label` is the text under the needle ("185.0%", "No debt")."""
    lo, hi = float(low), float(high)
    legend_rows = (len(lines) + 1) // 2
    dial_h = height - 18 * legend_rows
    cx, cy, r = width / 2, dial_h - 44, min(width / 2 - 30, dial_h - 64)
    band_width = 16
    tick_colours = ("#b42318", "#b7791f", "#0b4f8a", "#1e7a46", "#6941c6", "#475467")

    def frac(v: float) -> float:
        return min(max((v - lo) / (hi - lo), 0.0), 1.0)

    def arc(f0: float, f1: float, colour: str) -> str:
        x0, y0 = _arc_point(cx, cy, r, f0)
        x1, y1 = _arc_point(cx, cy, r, f1)
        return (
            f'<path d="M{x0:.1f},{y0:.1f} A{r:.1f},{r:.1f} 0 0 1 {x1:.1f},{y1:.1f}" '
            f'fill="none" stroke="{colour}" stroke-width="{band_width}"/>'
        )

    marks = sorted((float(v), name) for name, v in lines.items())
    edges = [m[0] for m in marks]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gauge" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}: {escape(value_label)}" '
        f'font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}: {escape(value_label)}</title>",
        arc(0, 1, "#e7ebf0"),
    ]
    if edges:
        out.append(arc(0, frac(edges[0]), "#f3c4bf"))
        if len(edges) > 1:
            out.append(arc(frac(edges[0]), frac(edges[1]), "#f6dfb0"))
        out.append(arc(frac(edges[-1]), 1, "#c7e6d2"))
    for n, (v, name) in enumerate(marks):
        f = frac(v)
        colour = tick_colours[n % len(tick_colours)]
        xi, yi = _arc_point(cx, cy, r - band_width / 2 - 3, f)
        xo, yo = _arc_point(cx, cy, r + band_width / 2 + 5, f)
        out.append(
            f'<line x1="{xi:.1f}" y1="{yi:.1f}" x2="{xo:.1f}" y2="{yo:.1f}" stroke="{colour}" '
            f'stroke-width="2.5"><title>{escape(name)}</title></line>'
        )
        col, row = n % 2, n // 2
        lx, ly = 16 + col * (width / 2), dial_h + 6 + row * 18
        out.append(
            f'<rect x="{lx:.1f}" y="{ly - 9:.1f}" width="10" height="10" rx="2" fill="{colour}"/>'
        )
        out.append(f'<text x="{lx + 15:.1f}" y="{ly:.1f}" fill="#344054">{escape(name)}</text>')
    needle = 1.0 if value is None else frac(float(value))
    xn, yn = _arc_point(cx, cy, r - band_width - 4, needle)
    out.append(
        f'<line class="needle" x1="{cx:.1f}" y1="{cy:.1f}" x2="{xn:.1f}" y2="{yn:.1f}" '
        f'stroke="#1c2430" stroke-width="3" stroke-linecap="round"/>'
    )
    out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="#1c2430"/>')
    out.append(
        f'<text x="{cx:.1f}" y="{cy + 28:.1f}" text-anchor="middle" font-size="18" '
        f'font-weight="600" fill="#1c2430">{escape(value_label)}</text>'
    )
    for v in (lo, hi):
        x, y = _arc_point(cx, cy, r, frac(v))
        out.append(
            f'<text x="{x:.1f}" y="{y + 20:.1f}" text-anchor="middle" fill="#98a2b3">'
            f"{_percent(v)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    bars: Sequence[tuple[str, Number]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    colours: Sequence[str] | None = None,
    width: int = 560,
    height: int = 260,
) -> str:
    """Vertical bars with their value on top (a histogram of counts, for instance)."""
    if not bars:
        return ""
    left, right, top, bottom = 48, 12, 30, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    y_ticks = nice_ticks(0.0, max(max(float(v) for _l, v in bars), 1.0), 4)
    y1 = y_ticks[-1]
    slot = plot_w / len(bars)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="18" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    for yv in y_ticks:
        y = top + plot_h - yv / y1 * plot_h
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef1f4"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6675">'
            f"{_plain(yv)}</text>"
        )
    for n, (label, value) in enumerate(bars):
        v = float(value)
        h = v / y1 * plot_h
        x = left + n * slot + slot * 0.15
        colour = (colours[n] if colours and n < len(colours) else None) or PALETTE[0]
        out.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: {_plain(v)}</title></rect>'
        )
        out.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{top + plot_h - h - 4:.1f}" '
            f'text-anchor="middle" fill="#1c2430">{_plain(v)}</text>'
        )
        out.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'fill="#5b6675">{escape(label)}</text>'
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'fill="#1c2430">{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#1c2430" '
        f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def signed_bar_chart(
    bars: Sequence[tuple[str, Number]],
    *,
    title: str,
    y_label: str,
    y_percent: bool = False,
    width: int = 560,
    height: int = 300,
    ticks: int = 5,
    colour: str = PALETTE[0],
) -> str:
    """Vertical bars, one per (label, value), with a value axis from zero (stress results
    per scenario, a loss histogram). Labels are drawn under every bar when they fit, else
    under every n-th bar; each bar carries its label and value as a tooltip."""
    if not bars:
        return ""
    left, right, top, bottom = 72, 16, 30, 56
    values = [float(v) for _label, v in bars]
    y_ticks = nice_ticks(min(min(values), 0.0), max(max(values), 0.0), ticks)
    y0, y1 = y_ticks[0], y_ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / len(bars)
    every = max(1, math.ceil(len(bars) * 60 / plot_w))

    def py(y: float) -> float:
        return top + (y1 - y) / (y1 - y0 if y1 > y0 else 1.0) * plot_h

    fy = _percent if y_percent else _plain
    out = _frame(title, width, height, left, top, plot_w, plot_h)
    _grid(out, y_ticks, py, fy, left, plot_w)
    zero = py(0.0)
    for n, ((label, _v), value) in enumerate(zip(bars, values, strict=True)):
        x = left + n * slot + slot * 0.15
        y, h = (py(value), zero - py(value)) if value >= 0 else (zero, py(value) - zero)
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{max(h, 0.5):.1f}" '
            f'fill="{colour}"><title>{escape(str(label))}: {fy(value)}</title></rect>'
        )
        if n % every == 0:
            cx = left + n * slot + slot / 2
            out.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'fill="#5b6675">{escape(str(label)[:18])}</text>'
            )
    out.append(
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#1c2430" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def _label_width(text: str, font_size: int = 11) -> float:
    """A generous estimate of a label's width in the chart's sans-serif font."""
    return len(text) * font_size * 0.62


def fitting_ticks(
    low: float, high: float, width: float, fmt, *, most: int = 8, gap: float = 14
) -> list[float]:
    """Round ticks inside [low, high] whose labels (fmt(tick)) do not overlap on an axis
    `width` pixels long: the tick count is lowered until every label fits its share."""
    for count in range(most, 0, -1):
        ticks = [t for t in nice_ticks(low, high, count) if low - 1e-9 <= t <= high + 1e-9]
        if len(ticks) <= 1:
            return ticks
        spacing = width * (ticks[1] - ticks[0]) / (high - low)
        if all(_label_width(fmt(t)) + gap <= spacing for t in ticks):
            return ticks
    return [low, high]


def histogram_chart(
    bins: Sequence[tuple[Number, Number, Number]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    markers: Mapping[str, Number] | None = None,
    tooltip: str = "{low} – {high}: {count}",
    width: int = 560,
    height: int = 320,
) -> str:
    """A histogram: contiguous bars over a value axis, one per (from, to, count) bin, with
    round value ticks spaced so that their labels never overlap (fewer ticks for long
    numbers) and optional vertical markers (label -> value, e.g. the VaR) named in a legend
    under the axis. Each bar carries its range and count as a tooltip (`tooltip` with
    {low}, {high} and {count})."""
    if not bins:
        return ""
    markers = {k: float(v) for k, v in (markers or {}).items()}
    legend_rows = (len(markers) + 2) // 3
    left, right, top = 64, 36, 30
    bottom = 48 + 18 * legend_rows
    plot_w, plot_h = width - left - right, height - top - bottom
    edges = [(float(a), float(b), float(c)) for a, b, c in bins]
    tips = [(float(a), float(b)) for a, b, _c in bins]
    x0, x1 = edges[0][0], edges[-1][1]
    if x1 <= x0:  # every value the same: one narrow bar (from zero when it is zero)
        step = abs(x0) * 0.1 or 1.0
        low = x0 if x0 == 0 else x0 - step / 2
        edges = [(low, low + step, edges[0][2])]
        x0, x1 = (0.0, 4 * step) if x0 == 0 else (x0 - 2 * step, x0 + 2 * step)
    for value in markers.values():
        x0, x1 = min(x0, value), max(x1, value)
    y_ticks = nice_ticks(0.0, max(max(c for _a, _b, c in edges), 1.0), 4)
    y1 = y_ticks[-1]

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + (y1 - y) / y1 * plot_h

    out = _frame(title, width, height, left, top, plot_w, plot_h)
    _grid(out, y_ticks, py, _plain, left, plot_w)
    for (low, high, count), (tip_low, tip_high) in zip(edges, tips, strict=True):
        if count <= 0:
            continue
        xa, xb = px(low), px(high)
        tip = tooltip.format(
            low=_two_places(tip_low), high=_two_places(tip_high), count=_plain(count)
        )
        out.append(
            f'<rect x="{xa:.1f}" y="{py(count):.1f}" width="{max(xb - xa - 1, 1):.1f}" '
            f'height="{py(0) - py(count):.1f}" fill="{PALETTE[0]}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    fx = _plain if x1 - x0 >= 10 else _two_places
    for xv in fitting_ticks(x0, x1, plot_w, fx):
        out.append(
            f'<line x1="{px(xv):.1f}" x2="{px(xv):.1f}" y1="{top + plot_h}" '
            f'y2="{top + plot_h + 4}" stroke="#98a2b3"/>'
        )
        out.append(
            f'<text class="tick" x="{px(xv):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'fill="#5b6675">{fx(xv)}</text>'
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 34}" text-anchor="middle" '
        f'fill="#1c2430">{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#1c2430" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    colours = ("#b7791f", "#b42318", "#6941c6", "#0e7490", "#1e7a46", "#475467")
    for n, (name, value) in enumerate(markers.items()):
        colour = colours[n % len(colours)]
        out.append(
            f'<line x1="{px(value):.1f}" x2="{px(value):.1f}" y1="{top}" y2="{top + plot_h}" '
            f'stroke="{colour}" stroke-width="2" stroke-dasharray="5 3">'
            f"<title>{escape(name)}: {_two_places(value)}</title></line>"
        )
        col, row = n % 3, n // 3
        lx, ly = left + col * (plot_w / 3), top + plot_h + 52 + row * 18
        out.append(
            f'<line x1="{lx:.1f}" x2="{lx + 16:.1f}" y1="{ly - 4:.1f}" y2="{ly - 4:.1f}" '
            f'stroke="{colour}" stroke-width="2" stroke-dasharray="5 3"/>'
        )
        out.append(
            f'<text x="{lx + 21:.1f}" y="{ly:.1f}" fill="#344054">{escape(name)} '
            f"{_plain(value)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
