"""Segregation (reconciliations, breaks, client-money requirement) and reserves (reserve vs
target, facilities, stress results) filings through the real services: the PDF figures equal
custody's records and selectors."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.roles import Role

from .conftest import numbers, pdf_text
from .test_filings import prepared

pytestmark = pytest.mark.django_db


def _row(text: str, start: str, index: int = 0) -> list[str]:
    rows = [x for x in text.splitlines() if x.strip().startswith(start)]
    return numbers(rows[index])


def test_segregation_shows_the_requirement_reconciliation_and_open_break(
    funded_account, officers, make_user
):
    from custody.services import reconciliation

    funded_account()  # cash 800,000; financing 300,000
    treasury = make_user(Role.TREASURY)
    recon = reconciliation.reconciliation_internal_run(
        business_date=timezone.localdate(), currency="CNY", actor=treasury
    )
    requirement = recon.requirement
    (brk,) = recon.breaks.all()
    as_of = timezone.now()
    filing = prepared("segregation", officers[0], as_of)
    text = pdf_text(filing.pdf_file.path)
    # the requirement row: CNY <date> credits debits requirement segregated excess
    row = _row(text, "CNY", 2)
    assert row[-5:] == [
        f"{requirement.credits:.2f}",
        f"{requirement.debits:.2f}",
        f"{requirement.requirement:.2f}",
        f"{requirement.segregated_funds:.2f}",
        f"{requirement.segregated_funds - requirement.requirement:.2f}",
    ]
    assert requirement.debits == Decimal("300000.00")
    flat = pdf_text(filing.pdf_file.path, layout=False)
    assert "Internal (segregated funds vs requirement)" in flat
    assert "Open breaks" in flat
    section = text.split("Breaks open at the as-of time", 1)[1]
    brk_row = _row(section, str(brk.pk))
    assert f"{brk.difference:.2f}" in brk_row and f"{brk.expected:.2f}" in brk_row

    # resolved after as_of: a filing at as_of still shows the break open. (Only the
    # reconciliation sections are compared: journal entries take created_at = now() of their
    # transaction, and a test runs in one transaction, so the resolution entry looks as old
    # as the test's start to the as-of ledger reads.)
    import json

    from reports import canonical, services

    reconciliation.reconciliation_break_resolve(brk=brk, actor=treasury, reason="to house")
    stored = json.loads(filing.json_file.read())["data"]
    again = json.loads(
        canonical.to_json_bytes(services.filing_snapshot(kind="segregation", as_of=as_of))
    )["data"]
    for key in ("open_breaks", "reconciliations", "client_money_requirements"):
        assert again[key] == stored[key], key
    assert [b["number"] for b in again["open_breaks"]] == [brk.pk]
    later = services.filing_snapshot(kind="segregation", as_of=timezone.now())
    assert later["data"]["open_breaks"] == []


def test_reserves_show_reserve_target_facility_and_the_stress_run(
    funded_account, officers, make_user, staff
):
    from custody import selectors as custody
    from custody.models import ReserveTarget
    from custody.services import reserves
    from lending.risk import services as risk

    treasury = make_user(Role.TREASURY)
    funded_account()
    reserves.house_capital_contribute(
        amount="5000000", currency="CNY", actor=treasury, reason="paid-in", idempotency_key="c1"
    )
    reserves.reserve_fund_contribute(
        amount="1000000", currency="CNY", actor=treasury, reason="reserve", idempotency_key="r1"
    )
    today = timezone.localdate()
    facility = reserves.facility_create(
        bank="Bank of China",
        limit="500000",
        currency="CNY",
        start_date=today - timedelta(days=1),
        expiry_date=today + timedelta(days=365),
        actor=treasury,
        reason="board approval",
    )
    reserves.facility_draw(
        facility=facility, amount="200000", actor=treasury, reason="test", idempotency_key="d1"
    )
    # before any stress run the filing says so and shows no stress figure
    filing = prepared("reserves", officers[0], timezone.now())
    flat = pdf_text(filing.pdf_file.path, layout=False).replace("\n", " ")
    assert "No stress run had finished by the as-of time" in flat

    run = risk.risk_run_start(kind="stress", actor=staff["risk"], reason="desk review")
    run = risk.risk_run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.error
    risk.risk_run_target_adopt(run=run, actor=staff["risk2"], reason="reviewed")
    as_of = timezone.now()
    filing = prepared("reserves", officers[1], as_of)
    text = pdf_text(filing.pdf_file.path)
    target = ReserveTarget.objects.get(currency="CNY").target
    reserve = custody.reserve_fund_balance(currency="CNY")
    assert _row(text, "CNY")[:2] == [f"{reserve:.2f}", f"{target:.2f}"]
    facility_row = _row(text, "Bank of China")
    assert facility_row[:3] == ["500000.00", "200000.00", "300000.00"]
    assert custody.facility_available(facility=facility) == Decimal("300000.00")
    stressed = next(x for x in text.splitlines() if x.strip().startswith("Stressed loss"))
    assert numbers(stressed) == [f"{run.stressed_loss:.2f}"]
    for scenario in run.results["scenarios"]:
        line = next(x for x in text.splitlines() if x.strip().startswith(scenario["name"]))
        assert f"{Decimal(scenario['total_shortfall']):.2f}" in numbers(line)
