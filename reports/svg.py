"""Small inline-SVG charts for filings and statements, with no Django imports.

Output is a self-contained <svg> element (no script, no external reference), so WeasyPrint
embeds it in the PDF as vector graphics and the same markup shows in a browser. Values may be
int or Decimal; they are turned into float only for geometry, never for figures shown as text
(labels print the value as given).
"""

from collections.abc import Sequence
from decimal import Decimal
from html import escape
from itertools import pairwise

Number = int | Decimal

FONT = "Noto Sans CJK SC, sans-serif"


def _fmt(value: Number) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,f}"


def bar_chart(
    items: Sequence[tuple[str, Number]],
    *,
    title: str = "",
    width: int = 560,
    bar_height: int = 18,
    gap: int = 6,
    label_width: int = 150,
) -> str:
    """Horizontal bars, one per (label, value), each labelled with its value. Negative values
    are drawn as zero-length bars (charts here show counts and amounts, not signed series)."""
    top = 24 if title else 6
    height = top + len(items) * (bar_height + gap) + 6
    peak = max((float(v) for _label, v in items), default=0.0)
    scale = (width - label_width - 90) / peak if peak > 0 else 0.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" font-family="{FONT}" font-size="11">'
    ]
    if title:
        parts.append(f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>')
    for index, (label, value) in enumerate(items):
        y = top + index * (bar_height + gap)
        length = max(float(value), 0.0) * scale
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height - 5}" '
            f'text-anchor="end">{escape(str(label))}</text>'
        )
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{length:.2f}" height="{bar_height}" '
            f'fill="#0b4f8a"/>'
        )
        parts.append(
            f'<text x="{label_width + length + 4:.2f}" y="{y + bar_height - 5}">'
            f"{escape(_fmt(value))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram_counts(values: Sequence[Number], edges: Sequence[Number]) -> list[int]:
    """Counts per bin [edges[i], edges[i+1]); the last bin also takes values >= its upper edge
    and the first values below edges[0], so every value is counted once."""
    if len(edges) < 2 or any(b <= a for a, b in pairwise(edges)):
        raise ValueError("histogram edges must be at least two increasing numbers")
    counts = [0] * (len(edges) - 1)
    for value in values:
        index = 0
        while index < len(counts) - 1 and value >= edges[index + 1]:
            index += 1
        counts[index] += 1
    return counts


def histogram(
    values: Sequence[Number],
    edges: Sequence[Number],
    *,
    title: str = "",
    label: str = "{lo} - {hi}",
    **kwargs,
) -> str:
    """A distribution (e.g. of maintenance ratios) as bars, one per bin."""
    counts = histogram_counts(values, edges)
    labels = []
    for index in range(len(counts)):
        lo, hi = edges[index], edges[index + 1]
        text = label.format(lo=_fmt(lo), hi=_fmt(hi))
        if index == len(counts) - 1:
            text = f"≥ {_fmt(lo)}"
        labels.append(text)
    return bar_chart(list(zip(labels, counts, strict=True)), title=title, **kwargs)
