"""Canonical snapshots and SVG charts: pure functions, no database."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from reports import canonical, svg


def test_canonical_json_sorts_keys_and_writes_decimals_as_strings():
    snapshot = {"b": Decimal("1.50"), "a": [date(2026, 1, 2), datetime(2026, 1, 2, tzinfo=UTC)]}
    assert canonical.to_json_bytes(snapshot) == (
        b'{"a":["2026-01-02","2026-01-02T00:00:00+00:00"],"b":"1.50"}'
    )
    assert canonical.data_hash(snapshot) == canonical.data_hash(dict(reversed(snapshot.items())))


def test_canonical_json_refuses_floats_and_naive_datetimes():
    with pytest.raises(canonical.FloatInSnapshot):
        canonical.to_json_bytes({"amount": 1.5})
    with pytest.raises(ValueError):
        canonical.to_json_bytes({"at": datetime(2026, 1, 2)})


def test_csv_flattens_every_leaf_with_its_path():
    text = canonical.to_csv_bytes({"a": [{"b": Decimal("2")}], "c": None, "d": []}).decode()
    assert text.splitlines() == ["path,value", "a[0].b,2", "c,", "d,[]"]


def test_histogram_counts_every_value_once():
    edges = [Decimal("1.3"), Decimal("1.5"), Decimal("3")]
    values = [Decimal("1.0"), Decimal("1.3"), Decimal("1.49"), Decimal("2"), Decimal("9")]
    assert svg.histogram_counts(values, edges) == [3, 2]
    with pytest.raises(ValueError):
        svg.histogram_counts(values, [1, 1])


def test_bar_chart_is_inline_svg_with_escaped_labels_and_no_script():
    markup = svg.bar_chart([("<b>", 3), ("个人", Decimal("1234.5"))], title="T & U")
    assert markup.startswith("<svg") and markup.endswith("</svg>")
    assert "&lt;b&gt;" in markup and "T &amp; U" in markup and "1,234.5" in markup
    assert "script" not in markup and "href" not in markup
