"""Selectors over committed history (transactional: each entry gets its own commit time)."""

from decimal import Decimal

import pytest

from custody import selectors, services
from custody.models import EntryKind, JournalEntry

pytestmark = pytest.mark.django_db(transaction=True)


def test_trial_balance_statement_and_position_at_a_past_time(funded_investor, treasury):
    investor = funded_investor("1000.00")
    client_money = services.client_account(investor, "client_money", "CNY")
    before = JournalEntry.objects.get().created_at
    # deposit, securities and withdrawal each commit on their own
    holdings = services.client_account(investor, "client_securities", "SSE:600519")
    custodian = services.house_account("custodian", "SSE:600519")
    services.entry_post(
        legs=[services.debit(custodian, Decimal("300")), services.credit(holdings, Decimal("300"))],
        memo="shares received",
        kind=EntryKind.SECURITIES,
        actor=treasury,
    )
    services.client_withdrawal_post(
        investor=investor,
        amount="250",
        currency="CNY",
        reference="w1",
        actor=treasury,
        idempotency_key="w1",
    )
    tb = selectors.trial_balance()
    assert tb.balanced and tb.totals["CNY"]["debit"] == Decimal("750")
    statement = selectors.account_statement(account=client_money)
    assert [line.balance for line in statement.lines] == [Decimal("1000"), Decimal("750")]
    assert statement.lines[1].debit == Decimal("250")
    now = selectors.client_position(investor=investor)
    assert now.cash == {"CNY": Decimal("750")} and now.holdings == {"SSE:600519": Decimal("300")}
    then = selectors.client_position(investor=investor, as_of=before)
    assert then.cash == {"CNY": Decimal("1000")} and then.holdings.get("SSE:600519", 0) == 0
    assert selectors.trial_balance(as_of=before).totals["CNY"]["debit"] == Decimal("1000")
