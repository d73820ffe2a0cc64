from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.errors import RuleViolation
from custody import selectors, services
from custody.models import JournalEntry, ReserveTarget

pytestmark = pytest.mark.django_db


@pytest.fixture
def capitalised(treasury):
    services.house_capital_contribute(
        amount="1000000", currency="CNY", actor=treasury, reason="paid-in", idempotency_key="cap"
    )


def test_facility_draw_repay_and_available(capitalised, treasury):
    today = timezone.localdate()
    facility = services.facility_create(
        bank="Bank of China",
        limit="500000",
        currency="CNY",
        start_date=today - timedelta(days=1),
        expiry_date=today + timedelta(days=365),
        fee_rate="0.0025",
        covenants="net capital >= 1bn",
        actor=treasury,
        reason="board approval 7",
    )
    services.facility_draw(
        facility=facility, amount="200000", actor=treasury, reason="liquidity", idempotency_key="d1"
    )
    assert selectors.facility_drawn(facility=facility) == Decimal("200000")
    assert selectors.facility_available(facility=facility) == Decimal("300000")
    with pytest.raises(RuleViolation, match="exceeds the available"):
        services.facility_draw(
            facility=facility, amount="300000.01", actor=treasury, reason="x", idempotency_key="d2"
        )
    with pytest.raises(RuleViolation, match="more than"):
        services.facility_repay(
            facility=facility, amount="200000.01", actor=treasury, reason="x", idempotency_key="r0"
        )
    services.facility_repay(
        facility=facility, amount="200000", actor=treasury, reason="repaid", idempotency_key="r1"
    )
    assert selectors.facility_available(facility=facility) == Decimal("500000")
    assert facility.history.first().history_user == treasury


def test_expired_facility_cannot_be_drawn(capitalised, treasury):
    today = timezone.localdate()
    facility = services.facility_create(
        bank="CCB",
        limit="1000",
        currency="CNY",
        start_date=today - timedelta(days=30),
        expiry_date=today,
        actor=treasury,
        reason="r",
    )
    with pytest.raises(RuleViolation, match="not available"):
        services.facility_draw(
            facility=facility, amount="1", actor=treasury, reason="r", idempotency_key="e1"
        )


def test_reserve_fund_contribution_use_and_adequacy(capitalised, make_investor, treasury):
    investor = make_investor()
    financing = services.client_account(investor, "financing_receivable", "CNY")
    house_bank = services.house_account("house_bank", "CNY")
    services.entry_post(
        legs=[
            services.debit(financing, Decimal("5000")),
            services.credit(house_bank, Decimal("5000")),
        ],
        memo="financing",
        kind="financing",
        actor=treasury,
    )
    services.reserve_fund_contribute(
        amount="20000", currency="CNY", actor=treasury, reason="monthly", idempotency_key="rc1"
    )
    adequacy = selectors.reserve_adequacy(currency="CNY")
    assert adequacy.reserve == Decimal("20000") and adequacy.ratio is None
    services.reserve_target_set(
        currency="CNY",
        target="40000",
        as_of=timezone.localdate(),
        source="stress test run 1",
        actor=treasury,
        reason="risk analytics",
    )
    assert selectors.reserve_adequacy(currency="CNY").ratio == Decimal("0.5")
    # covering a default: write-off and reserve release in one balanced entry
    entry = services.reserve_fund_use(
        investor=investor,
        amount="3000",
        currency="CNY",
        actor=treasury,
        reason="shortfall after liquidation",
        idempotency_key="use1",
    )
    assert entry.postings.count() == 4
    assert selectors.account_balance(account=financing) == Decimal("2000")
    assert selectors.reserve_fund_balance(currency="CNY") == Decimal("17000")
    with pytest.raises(RuleViolation, match="exceeds what"):
        services.reserve_fund_use(
            investor=investor,
            amount="2000.01",
            currency="CNY",
            actor=treasury,
            reason="x",
            idempotency_key="use2",
        )
    assert not JournalEntry.objects.filter(idempotency_key="use2").exists()
    services.reserve_target_set(
        currency="CNY",
        target="34000",
        as_of=timezone.localdate(),
        source="run 2",
        actor=treasury,
        reason="new stress test",
    )
    assert ReserveTarget.objects.get().history.count() == 2
    assert selectors.trial_balance().balanced
