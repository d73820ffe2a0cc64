"""A default larger than the reserve fund (issue 17): the liquidation's closing covers it from
the reserve fund, then by drawing an available backup facility in the same transaction; with
no facility, what is left is recorded as an uncovered loss for treasury. Either way the
liquidation stays done: plan executed, call closed, account in default."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from custody import selectors as custody_selectors
from custody import services as custody
from custody.models import UncoveredLoss
from lending.liquidation import services as liquidation
from lending.models import DefaultRecord, Order
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.lending.calls_fixtures import MOUTAI, PINGAN, overdue_call, sh
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal
SHORTFALL = D("123200.00")  # debt 140,000 less proceeds 16,800 (test_calls_lifecycle)


@pytest.mark.parametrize("facility_limit", [D("200000"), None])
def test_a_default_beyond_the_reserve_never_undoes_the_liquidation(account, staff, facility_limit):
    custody.house_capital_contribute(
        amount=D("5000000"), currency="CNY", actor=None, reason="capital", idempotency_key="cap"
    )
    custody.reserve_fund_contribute(
        amount=D("20000"), currency="CNY", actor=None, reason="small reserve", idempotency_key="rf"
    )
    facility = None
    if facility_limit:
        today = timezone.localdate()
        facility = custody.facility_create(
            bank="Bank of China", limit=facility_limit, currency="CNY",
            start_date=today - timedelta(days=1), expiry_date=today + timedelta(days=365),
            actor=None, reason="backup line",
        )  # fmt: skip
    call = overdue_call(account, staff)
    price_set(MOUTAI, "5.00")
    price_set(PINGAN, "0.50")
    market.zero_fees(sh(2026, 10, 12).date())
    plan = liquidation.liquidation_plan_prepare(
        call=call, actor=staff["risk"], now=sh(2026, 10, 12, 9, 20)
    )
    plan = liquidation.liquidation_plan_approve(
        plan=plan, actor=staff["risk2"], reason="collapse", now=sh(2026, 10, 12, 9, 25)
    )
    plan = liquidation.liquidation_execute(
        plan=plan, actor=staff["risk"], now=sh(2026, 10, 12, 9, 31)
    )
    for order in Order.objects.filter(liquidation_order__line__plan=plan):
        market.fill(order)
    plan.refresh_from_db()
    call.refresh_from_db()
    assert plan.status == "executed" and call.status == "closed"
    assert account.margin_state.__class__.objects.get(credit_account=account).state == "default"
    default = DefaultRecord.objects.get(call=call)
    assert default.shortfall == SHORTFALL and default.reserve_entry is not None
    assert custody_selectors.reserve_fund_balance(currency="CNY") == 0
    left = SHORTFALL - D("20000")
    if facility is not None:
        assert custody_selectors.facility_drawn(facility=facility) == left
        assert not UncoveredLoss.objects.exists()
    else:
        loss = UncoveredLoss.objects.get()
        assert loss.amount == left and loss.status == "open"
        assert loss.entry == default.reserve_entry
    assert trial_balance_is_zero()
