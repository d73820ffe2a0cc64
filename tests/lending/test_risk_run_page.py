"""The Monte Carlo run's page shows the figures the run computed (VaR and ES at 95 and 99 per
cent, money with thousands separators and 2 places, zero as 0.00, never "—"), each loss
distribution's summary, and histograms whose value-axis labels do not overlap."""

import itertools
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from lending.domain import charts
from lending.risk import services as risk
from tests.compliance.fixtures import login_verified

pytestmark = pytest.mark.django_db


def money(value) -> str:
    return f"{Decimal(value):,.2f}"


def _run(actor, **parameters):
    run = risk.risk_run_start(
        kind="monte_carlo",
        actor=actor,
        reason="page check",
        seed=11,
        parameters={"n_paths": 400, "performance_accounts": 0, **parameters},
    )
    return risk.risk_run_execute(run_id=run.pk)


def test_the_page_shows_the_var_and_es_the_run_computed(five_x, staff, client):
    # a volatile month: some paths leave the 5x account owing more than its assets
    run = _run(staff["risk"], horizon_days=20, market_vol=0.08)
    assert run.status == "succeeded" and run.var_99 > 0 and run.es_99 >= run.var_99
    login_verified(client, staff["auditor"])
    page = client.get(reverse("staff:lending-risk-run-detail", args=[run.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for field in ("var_95", "var_99", "es_95", "es_99"):
        shown = re.search(rf'<dd id="run-{field.replace("_", "-")}">([^<]*)</dd>', html)
        assert shown and shown.group(1) == money(getattr(run, field)), field
    assert f'<dd id="run-target">{money(run.reserve_target)}</dd>' in html
    # both distributions, as stored in the results
    table = html[html.index('id="loss-distributions"') :]
    for key in ("credit_loss", "market_loss"):
        stored = run.results[key]
        for figure in ("mean", "var_95", "var_99", "es_95", "es_99", "max"):
            assert f'<td class="num">{money(stored[figure])}</td>' in table, (key, figure)
    assert html.count("<svg") == 2


def test_a_calm_book_shows_zero_losses_as_0_00_not_a_dash(five_x, staff, client):
    run = _run(staff["risk"], horizon_days=1, market_vol=0.001)
    assert run.var_95 == run.var_99 == run.es_95 == run.es_99 == Decimal("0.00")
    login_verified(client, staff["risk"])
    html = client.get(reverse("staff:lending-risk-run-detail", args=[run.pk])).content.decode()
    for field in ("var-95", "var-99", "es-95", "es-99"):
        assert f'<dd id="run-{field}">0.00</dd>' in html
    # the runs list and the comparison show them too
    listed = client.get(reverse("staff:lending-risk-runs")).content.decode()
    assert '<td class="num">0.00</td>' in listed
    compare = client.get(reverse("staff:lending-risk-compare"), {"run": [run.pk]})
    assert '<td class="num">0.00</td>' in compare.content.decode()


def _tick_labels(svg: str) -> list[tuple[float, str]]:
    return [
        (float(x), label)
        for x, label in re.findall(r'<text class="tick" x="([\d.]+)"[^>]*>([^<]*)</text>', svg)
    ]


@pytest.mark.parametrize("scale", [1, 1_000, 1_000_000, 10_000_000_000])
def test_histogram_axis_labels_never_overlap(scale):
    bins = [(k * 12.3456 * scale, (k + 1) * 12.3456 * scale, 30 - k) for k in range(30)]
    svg = charts.histogram_chart(
        bins, title="t", x_label="x", y_label="y", markers={"VaR 99%": 300 * scale}
    )
    ticks = _tick_labels(svg)
    assert len(ticks) >= 2
    for (xa, a), (xb, b) in itertools.pairwise(ticks):
        half_widths = (charts._label_width(a) + charts._label_width(b)) / 2
        assert xb - xa >= half_widths, (a, b)
    assert svg.count("<rect") == 31  # the frame and one bar per bin


def test_histogram_of_a_single_value_draws_one_bar():
    svg = charts.histogram_chart([(0, 0, 400)], title="t", x_label="x", y_label="y")
    assert svg.count("<rect") == 2 and _tick_labels(svg)
