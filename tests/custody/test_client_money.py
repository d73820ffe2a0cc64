"""Acceptance 3 and the deposit/withdrawal services."""

from decimal import Decimal

import pytest

from accounts.errors import RuleViolation, ValidationFailed
from custody import selectors, services
from custody.models import JournalEntry, LedgerAccount

pytestmark = pytest.mark.django_db


def test_deposit_from_bank_of_record_credits_client_money(make_investor, treasury):
    investor = make_investor(bank_account="6217000012345678")
    entry = services.client_deposit_post(
        investor=investor,
        amount="2500.00",
        currency="CNY",
        bank_account="6217 0000 1234 5678",
        reference="slip 42",
        actor=treasury,
        idempotency_key="dep-42",
    )
    assert entry.kind == "deposit"
    assert selectors.client_money_balance(investor=investor, currency="CNY") == Decimal("2500")
    assert selectors.account_balance(
        account=services.house_account("client_bank", "CNY")
    ) == Decimal("2500")


def test_deposit_from_another_bank_account_is_refused(make_investor, treasury):
    investor = make_investor(bank_account="6217000012345678")
    with pytest.raises(RuleViolation, match="bank account of record"):
        services.client_deposit_post(
            investor=investor,
            amount="10",
            currency="CNY",
            bank_account="6217000099999999",
            reference="third party",
            actor=treasury,
            idempotency_key="dep-x",
        )
    assert not JournalEntry.objects.exists()


def test_withdrawal_larger_than_client_money_is_refused_and_nothing_written(
    funded_investor, treasury
):
    # given a client with 1,000.00 CNY
    investor = funded_investor("1000.00")
    account = LedgerAccount.objects.get(investor=investor, purpose="client_money")
    entries_before = JournalEntry.objects.count()
    history_before = account.history.count()
    # when they ask for 1,000.01
    with pytest.raises(RuleViolation) as info:
        services.client_withdrawal_post(
            investor=investor,
            amount="1000.01",
            currency="CNY",
            reference="too much",
            actor=treasury,
            idempotency_key="w-too-much",
        )
    # then the message names the account, the amount and the balance
    message = info.value.message
    assert account.purpose_key in message
    assert "1,000.01 CNY" in message and "1,000.00 CNY" in message
    assert info.value.extra["balance"] == "1000.0000"
    # and nothing was written
    assert JournalEntry.objects.count() == entries_before
    assert account.history.count() == history_before
    assert selectors.client_money_balance(investor=investor, currency="CNY") == Decimal("1000")


def test_withdrawal_without_any_client_money_account_leaves_no_account(make_investor, treasury):
    investor = make_investor()
    with pytest.raises(RuleViolation, match=r"holds only 0\.00 CNY"):
        services.client_withdrawal_post(
            investor=investor,
            amount="1",
            currency="CNY",
            reference="r",
            actor=treasury,
            idempotency_key="w0",
        )
    assert not LedgerAccount.objects.filter(investor=investor).exists()


def test_withdrawal_of_exact_balance_and_idempotent_repeat(funded_investor, treasury):
    investor = funded_investor("300.00")
    kwargs = {
        "investor": investor,
        "amount": "300.00",
        "currency": "CNY",
        "reference": "all out",
        "actor": treasury,
        "idempotency_key": "w-all",
    }
    first = services.client_withdrawal_post(**kwargs)
    again = services.client_withdrawal_post(**kwargs)  # a retried request after success
    assert again.pk == first.pk
    assert selectors.client_money_balance(investor=investor, currency="CNY") == 0


def test_amounts_are_validated_naming_the_field(funded_investor, treasury):
    investor = funded_investor()
    for bad in ["NaN", "-5", "1.001", "Infinity"]:
        with pytest.raises(ValidationFailed) as info:
            services.client_withdrawal_post(
                investor=investor,
                amount=bad,
                currency="CNY",
                reference="r",
                actor=treasury,
                idempotency_key="w-bad",
            )
        assert info.value.extra["field"] == "amount"
