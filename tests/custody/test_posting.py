from decimal import Decimal

import pytest

from accounts.errors import Conflict, RuleViolation, ValidationFailed
from custody import selectors, services
from custody.models import EntryKind, JournalEntry, Posting

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    return (
        services.house_account("house_bank", "CNY"),
        services.house_account("house_equity", "CNY"),
        services.house_account("interest_income", "CNY"),
    )


def test_standard_accounts_are_got_or_created_by_purpose_key(make_investor):
    investor = make_investor()
    first = services.client_account(investor, "client_money", "CNY")
    again = services.client_account(investor, "client_money", "cny")
    assert first.pk == again.pk
    assert first.purpose_key == f"client:{investor.pk}:client_money:CNY"
    assert first.client_money and first.account_type == "liability"
    holdings = services.client_account(investor, "client_securities", "SSE:600519")
    assert holdings.unit == "SSE:600519"
    with pytest.raises(ValidationFailed, match="investor"):
        services.house_account("client_money", "CNY")


def test_entry_post_moves_balances_and_records_who_and_why(accounts, treasury):
    bank, equity, _income = accounts
    entry = services.entry_post(
        legs=[services.debit(bank, Decimal("500")), services.credit(equity, Decimal("500"))],
        memo="paid-in capital",
        actor=treasury,
        idempotency_key="cap-1",
    )
    stored = JournalEntry.objects.get(pk=entry.pk)
    assert stored.actor == treasury and stored.memo == "paid-in capital"
    assert stored.created_at is not None and stored.tx_id is not None
    assert selectors.account_balance(account=bank) == Decimal("500")
    assert selectors.account_balance(account=equity) == Decimal("500")


def test_same_key_same_content_returns_first_entry(accounts, treasury):
    bank, equity, _income = accounts
    legs = [services.debit(bank, Decimal("5")), services.credit(equity, Decimal("5"))]
    first = services.entry_post(legs=legs, memo="m", actor=treasury, idempotency_key="k1")
    again = services.entry_post(legs=legs, memo="m", actor=treasury, idempotency_key="k1")
    assert again.pk == first.pk
    assert Posting.objects.count() == 2
    assert selectors.account_balance(account=bank) == Decimal("5")


def test_same_key_other_content_is_conflict_naming_the_key(accounts, treasury):
    bank, equity, _income = accounts
    services.entry_post(
        legs=[services.debit(bank, Decimal("5")), services.credit(equity, Decimal("5"))],
        memo="m",
        actor=treasury,
        idempotency_key="k2",
    )
    with pytest.raises(Conflict, match="k2"):
        services.entry_post(
            legs=[services.debit(bank, Decimal("6")), services.credit(equity, Decimal("6"))],
            memo="m",
            actor=treasury,
            idempotency_key="k2",
        )
    assert selectors.account_balance(account=bank) == Decimal("5")


def test_unbalanced_or_malformed_entries_are_refused_before_the_database(accounts, treasury):
    bank, equity, _income = accounts
    with pytest.raises(ValidationFailed, match="does not balance"):
        services.entry_post(
            legs=[services.debit(bank, Decimal("5")), services.credit(equity, Decimal("4"))],
            memo="m",
            actor=treasury,
        )
    with pytest.raises(ValidationFailed, match="two or more"):
        services.entry_post(legs=[services.debit(bank, Decimal("5"))], memo="m", actor=treasury)
    with pytest.raises(ValidationFailed, match="decimal places"):
        services.entry_post(
            legs=[
                services.debit(bank, Decimal("0.001")),
                services.credit(equity, Decimal("0.001")),
            ],
            memo="m",
            actor=treasury,
        )
    with pytest.raises(ValidationFailed, match="memo"):
        services.entry_post(
            legs=[services.debit(bank, Decimal("1")), services.credit(equity, Decimal("1"))],
            memo=" ",
            actor=treasury,
        )
    assert not JournalEntry.objects.exists()


def test_reversal_links_the_original_and_happens_once(accounts, treasury):
    bank, equity, _income = accounts
    entry = services.entry_post(
        legs=[services.debit(bank, Decimal("9")), services.credit(equity, Decimal("9"))],
        memo="typo",
        actor=treasury,
    )
    reversal = services.entry_reverse(entry=entry, actor=treasury, reason="wrong amount")
    assert reversal.reversal_of_id == entry.pk and reversal.kind == EntryKind.REVERSAL
    assert selectors.account_balance(account=bank) == 0
    again = services.entry_reverse(entry=entry, actor=treasury, reason="wrong amount")
    assert again.pk == reversal.pk
    with pytest.raises(Conflict):
        services.entry_reverse(
            entry=entry, actor=treasury, reason="again", idempotency_key="another-key"
        )


def test_batch_posts_many_entries_in_one_transaction(make_investor, accounts, treasury):
    _bank, _equity, income = accounts
    investors = [make_investor() for _ in range(3)]
    receivables = [services.client_account(i, "interest_receivable", "CNY") for i in investors]
    specs = [
        services.EntrySpec(
            legs=[services.debit(r, Decimal("1.25")), services.credit(income, Decimal("1.25"))],
            memo="daily interest",
            kind=EntryKind.INTEREST,
            idempotency_key=f"interest:2026-03-02:{r.pk}",
        )
        for r in receivables
    ]
    entries = services.entries_post(entries=specs, actor=treasury)
    assert len({e.pk for e in entries}) == 3
    assert selectors.account_balance(account=income) == Decimal("3.75")
    # the whole batch again is idempotent
    again = services.entries_post(entries=specs, actor=treasury)
    assert [e.pk for e in again] == [e.pk for e in entries]
    assert selectors.account_balance(account=income) == Decimal("3.75")


def test_batch_is_all_or_nothing(make_investor, accounts, treasury):
    _bank, _equity, income = accounts
    investor = make_investor()
    client_money = services.client_account(investor, "client_money", "CNY")
    good = services.EntrySpec(
        legs=[services.debit(_bank, Decimal("1")), services.credit(income, Decimal("1"))],
        memo="ok",
    )
    overdraw = services.EntrySpec(
        legs=[services.debit(client_money, Decimal("1")), services.credit(income, Decimal("1"))],
        memo="fee from an empty account",
    )
    with pytest.raises(RuleViolation, match="negative"):
        services.entries_post(entries=[good, overdraw], actor=treasury)
    assert not JournalEntry.objects.exists()
