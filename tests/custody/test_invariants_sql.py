"""Acceptance 1: PostgreSQL itself refuses what must never happen, whoever writes the SQL."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from custody import services
from custody.models import AccountBalance, JournalEntry

pytestmark = pytest.mark.django_db(transaction=True)


def _accounts():
    return (
        services.house_account("house_bank", "CNY"),
        services.house_account("house_equity", "CNY"),
    )


def _raw_entry(cursor, memo="raw"):
    cursor.execute(
        "INSERT INTO custody_journalentry (kind, memo, fingerprint, effective_date) "
        "VALUES ('transfer', %s, 'x', CURRENT_DATE) RETURNING id",
        [memo],
    )
    return cursor.fetchone()[0]


def _raw_posting(cursor, entry_id, account, amount):
    cursor.execute(
        "INSERT INTO custody_posting (entry_id, account_id, unit, amount) VALUES (%s, %s, %s, %s)",
        [entry_id, account.pk, account.unit, amount],
    )


def test_unbalanced_entry_fails_at_commit():
    bank, equity = _accounts()
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        with connection.cursor() as cursor:
            entry_id = _raw_entry(cursor)
            _raw_posting(cursor, entry_id, bank, Decimal("100"))
            _raw_posting(cursor, entry_id, equity, Decimal("-99.99"))
        # the statements themselves succeed: the check is deferred to commit
        assert AccountBalance.objects.get(account=bank).balance == Decimal("100")
    assert not JournalEntry.objects.exists()
    assert AccountBalance.objects.get(account=bank).balance == 0


def test_single_posting_entry_fails_at_commit():
    bank, _equity = _accounts()
    with (
        pytest.raises(IntegrityError, match="two or more"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        entry_id = _raw_entry(cursor)
        _raw_posting(cursor, entry_id, bank, Decimal("5"))


def test_balanced_raw_entry_commits_and_moves_balances():
    bank, equity = _accounts()
    with transaction.atomic(), connection.cursor() as cursor:
        entry_id = _raw_entry(cursor)
        _raw_posting(cursor, entry_id, bank, Decimal("7"))
        _raw_posting(cursor, entry_id, equity, Decimal("-7"))
    assert AccountBalance.objects.get(account=bank).balance == Decimal("7")
    assert AccountBalance.objects.get(account=equity).balance == Decimal("-7")


APPEND_ONLY_VIOLATIONS = [
    "UPDATE custody_posting SET amount = amount * 2",
    "DELETE FROM custody_posting",
    "UPDATE custody_journalentry SET memo = 'rewritten'",
    "DELETE FROM custody_journalentry",
    "UPDATE custody_accountbalance SET balance = 0",
    "DELETE FROM custody_accountbalance",
    "DELETE FROM custody_ledgeraccount",
]


def test_posted_rows_cannot_be_updated_or_deleted(treasury):
    bank, equity = _accounts()
    services.entry_post(
        legs=[services.debit(bank, Decimal("10")), services.credit(equity, Decimal("10"))],
        memo="capital",
        actor=treasury,
    )
    for statement in APPEND_ONLY_VIOLATIONS:
        with (
            pytest.raises(IntegrityError, match=r"append-only|posting trigger|cannot be deleted"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert AccountBalance.objects.get(account=bank).balance == Decimal("10")
    assert JournalEntry.objects.get().memo == "capital"


def test_postings_cannot_be_added_to_a_committed_entry(treasury):
    bank, equity = _accounts()
    entry = services.entry_post(
        legs=[services.debit(bank, Decimal("10")), services.credit(equity, Decimal("10"))],
        memo="capital",
        actor=treasury,
    )
    with (
        pytest.raises(IntegrityError, match="already posted"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        _raw_posting(cursor, entry.pk, bank, Decimal("1"))
        _raw_posting(cursor, entry.pk, equity, Decimal("-1"))


def test_client_money_account_cannot_go_negative_through_raw_sql(funded_investor):
    investor = funded_investor("100.00")
    client_money = services.client_account(investor, "client_money", "CNY")
    bank = services.house_account("client_bank", "CNY")
    with (
        pytest.raises(IntegrityError, match="custody_client_money_never_negative"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        entry_id = _raw_entry(cursor)
        _raw_posting(cursor, entry_id, client_money, Decimal("100.01"))  # debit: pay out
        _raw_posting(cursor, entry_id, bank, Decimal("-100.01"))
    assert AccountBalance.objects.get(account=client_money).balance == Decimal("-100")


def test_posting_unit_must_match_its_account():
    bank, equity = _accounts()
    with (
        pytest.raises(IntegrityError, match="does not match"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        entry_id = _raw_entry(cursor)
        cursor.execute(
            "INSERT INTO custody_posting (entry_id, account_id, unit, amount) "
            "VALUES (%s, %s, 'USD', 1), (%s, %s, 'USD', -1)",
            [entry_id, bank.pk, entry_id, equity.pk],
        )


def test_account_identity_is_frozen():
    bank, _equity = _accounts()
    with (
        pytest.raises(IntegrityError, match="never change"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE custody_ledgeraccount SET unit = 'USD' WHERE id = %s", [bank.pk])
