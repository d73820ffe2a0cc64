"""The investor portal's home: account overview with the ratio gauge, notices to acknowledge,
onboarding steps, deposits; and lending.domain.charts.gauge (pure)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from lending.domain import charts
from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, PINGAN, sh


def test_gauge_draws_lines_needle_and_escapes_labels():
    svg = charts.gauge(
        Decimal("1.85"),
        lines={"Call 130%": 1.3, "Warning 140%": 1.4, "<Target> 150%": 1.5, "Out 300%": 3},
        title="Ratio",
        value_label="185.0%",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;Target&gt; 150%" in svg and "<Target>" not in svg
    assert svg.count('class="needle"') == 1 and "185.0%" in svg
    no_debt = charts.gauge(None, lines={}, title="Ratio", value_label="No debt")
    assert "No debt" in no_debt


@pytest.mark.django_db
def test_overview_shows_figures_gauge_positions_and_deposits(account, client):
    client.force_login(account.investor.user)
    html = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert account.account_number in html
    assert 'class="gauge"' in html and "242.9%" in html  # 340,000 / 140,000
    assert "Call 130%" in html and "Withdrawal 300%" in html
    assert "Available margin" in html and "Withdrawable cash" in html
    assert "SSE:600519" in html and "Credited" in html
    assert account.investor.bank_account_masked in html
    zh = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "维持担保比例" in zh and "可提取现金" in zh


@pytest.mark.django_db
def test_notice_after_a_fall_is_on_the_overview_to_acknowledge(account, client):
    from lending.margin_calls import services as calls

    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0))
    client.force_login(account.investor.user)
    html = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "notice-ack" in html and "Open margin calls" in html


@pytest.mark.django_db
def test_onboarding_steps_before_credit_and_pending_profile(make_investor, make_user, client):
    investor = make_investor()
    client.force_login(investor.user)
    html = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-step="suitability"' in html and "Before you borrow" in html
    client.force_login(make_user("investor"))
    html = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="profile-pending"' in html
