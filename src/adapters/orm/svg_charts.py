"""Bar charts as inline SVG, built on the server from figures already computed.

Why our own hundred lines rather than a charting library: the admin needs plain bars (aging,
collections per day, a share-of-total strip); a JavaScript library would have to be vendored (no
CDN: the admin's CSP allows only 'self' and the page must work offline) only to draw in the browser
what the server already knows, and a Python charting package (matplotlib, pygal) is a large
dependency for a few rectangles. Inline SVG is text: it needs no request of its own, prints and
zooms cleanly, and tests read the bars' heights and captions straight from the HTML.

Geometry is computed in Decimal (the values are money) and written with two decimals; each bar
carries its value in `data-value`, so its height can be checked against it. Standard library only:
the caller marks the result safe for its template engine; every text is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape

PIXEL = Decimal("0.01")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its category `label`, the `value` its size is proportional to (not negative), the
    `caption` written beside it (the value formatted for people) and its `color`."""

    label: str
    value: Decimal
    caption: str
    color: str = "#417690"


def _px(value: Decimal) -> str:
    return str(value.quantize(PIXEL, ROUND_HALF_EVEN))


def _scale(value: Decimal, largest: Decimal, length: Decimal) -> Decimal:
    return (value / largest * length).quantize(PIXEL, ROUND_HALF_EVEN) if largest > 0 else Decimal(0)


def bar_chart(
    bars: Sequence[Bar],
    *,
    name: str,
    width: int = 560,
    height: int = 220,
    captions: bool = True,
    label_every: int = 1,
    top_caption: str = "",
) -> str:
    """Vertical bars, heights proportional to the values (the largest fills the plot).

    `captions`: write each bar's caption above it (for a few bars); otherwise `top_caption` marks
    the largest value with a dashed line (for many bars) and each bar has its caption as a tooltip.
    `label_every`: write every n-th label under the axis (a label per day would overlap).
    """
    top, bottom, side = Decimal(22), Decimal(30), Decimal(20)  # side: room for a centred first label
    plot = Decimal(height) - top - bottom
    slot = (Decimal(width) - 2 * side) / max(len(bars), 1)
    gap = slot / 5 if len(bars) <= 12 else slot / 8
    largest = max((b.value for b in bars), default=Decimal(0))
    baseline = top + plot
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(name)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(name)}">'
    ]
    if top_caption and largest > 0:
        parts.append(
            f'<line x1="{_px(side)}" y1="{_px(top)}" x2="{_px(Decimal(width) - side)}" y2="{_px(top)}" '
            'stroke="#bbb" stroke-dasharray="4 3"/>'
            f'<text x="{_px(side)}" y="{_px(top - 6)}" {FONT} fill="#555">{escape(top_caption)}</text>'
        )
    for n, bar in enumerate(bars):
        bar_height = _scale(bar.value, largest, plot)
        x = side + slot * n + gap / 2
        centre = side + slot * n + slot / 2
        parts.append(
            f'<rect class="bar" x="{_px(x)}" y="{_px(baseline - bar_height)}" width="{_px(slot - gap)}" '
            f'height="{_px(bar_height)}" fill="{escape(bar.color)}" data-value="{bar.value}">'
            f"<title>{escape(bar.label)}: {escape(bar.caption)}</title></rect>"
        )
        if captions:
            parts.append(
                f'<text class="caption" x="{_px(centre)}" y="{_px(baseline - bar_height - 5)}" text-anchor="middle" '
                f'{FONT} fill="#333">{escape(bar.caption)}</text>'
            )
        if n % label_every == 0:
            parts.append(
                f'<text class="label" x="{_px(centre)}" y="{_px(baseline + 16)}" text-anchor="middle" '
                f'{FONT} fill="#555">{escape(bar.label)}</text>'
            )
    parts.append(
        f'<line x1="{_px(side)}" y1="{_px(baseline)}" x2="{_px(Decimal(width) - side)}" y2="{_px(baseline)}" '
        'stroke="#888"/></svg>'
    )
    return "".join(parts)


def share_strip(parts: Sequence[Bar], *, name: str, width: int = 560, height: int = 26) -> str:
    """One horizontal strip split into the parts' shares of their total (widths proportional to
    the values): what a whole is made of. Labels belong in a legend beside it (see `Bar.color`)."""
    total = sum((p.value for p in parts), Decimal(0))
    segments = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(name)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(name)}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#eee"/>',
    ]
    x = Decimal(0)
    for part in parts:
        length = _scale(part.value, total, Decimal(width))
        segments.append(
            f'<rect class="bar" x="{_px(x)}" y="0" width="{_px(length)}" height="{height}" '
            f'fill="{escape(part.color)}" data-value="{part.value}">'
            f"<title>{escape(part.label)}: {escape(part.caption)}</title></rect>"
        )
        x += length
    segments.append("</svg>")
    return "".join(segments)
