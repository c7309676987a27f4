"""The admin's inline SVG charts: sizes proportional to values, nothing drawn for an empty series,
every text escaped."""

from __future__ import annotations

import re
from decimal import Decimal

from adapters.orm.svg_charts import Bar, bar_chart, share_strip


def _sizes(svg: str, attribute: str) -> list[Decimal]:
    return [Decimal(v) for v in re.findall(rf'<rect class="bar" [^>]*?\s{attribute}="([\d.]+)"', svg)]


def test_bar_heights_are_proportional_and_the_largest_fills_the_plot() -> None:
    values = [Decimal(30), Decimal(120), Decimal(0), Decimal("60.5")]
    svg = bar_chart([Bar(str(n), v, f"{v} X") for n, v in enumerate(values)], name="t", height=220)
    plot = Decimal(220 - 22 - 30)
    assert _sizes(svg, "height") == [(v / 120 * plot).quantize(Decimal("0.01")) for v in values]


def test_a_series_of_zeros_draws_flat_bars() -> None:
    svg = bar_chart([Bar("a", Decimal(0), "0"), Bar("b", Decimal(0), "0")], name="t", top_caption="max 0")
    assert _sizes(svg, "height") == [0, 0] and "max 0" not in svg
    assert _sizes(share_strip([Bar("a", Decimal(0), "0")], name="s"), "width") == [0]


def test_strip_widths_share_the_whole_width() -> None:
    svg = share_strip([Bar("a", Decimal(1), "1"), Bar("b", Decimal(3), "3")], name="s", width=400)
    assert _sizes(svg, "width") == [100, 300]


def test_every_text_is_escaped() -> None:
    svg = bar_chart([Bar("<b>", Decimal(1), '"&"')], name="x<y", top_caption="<i>")
    assert "<b>" not in svg and "<i>" not in svg and 'data-chart="x&lt;y"' in svg and "&quot;&amp;&quot;" in svg
