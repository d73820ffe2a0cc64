"""The mark-to-market's balance mirror (lending.models.RiskBalance) follows the ledger in the
same transaction, through the services that move money and securities, and nothing else writes
it: a run reading the mirror values what the ledger holds."""

import logging
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from custody import services as custody
from lending.instruments import services as instruments_services
from lending.models import RiskBalance, RiskBalanceKind
from lending.mtm import book_arrays
from lending.mtm import services as mtm
from lending.mtm import tasks as tasks_mtm

pytestmark = pytest.mark.django_db

MOUTAI, PINGAN = "SSE:600519", "SZSE:000001"


def _mirror(investor_id) -> dict:
    rows = RiskBalance.objects.filter(investor_id=investor_id)
    return {(r.kind, r.instrument_id): r.amount for r in rows}


def _deposit_1000(account, reference: str) -> None:
    custody.client_deposit_post(
        investor=account.investor,
        amount=Decimal("1000"),
        currency="CNY",
        bank_account=account.investor._test_bank_account,
        reference=reference,
        actor=None,
        idempotency_key=f"mirror-{reference}",
    )


def test_deposits_purchases_and_drawdowns_move_the_mirror_with_the_ledger(
    funded_account, book_instruments
):
    # when an investor deposits 1,000,000, buys 2,000 MOUTAI at 100 with own cash and draws
    # down 30,000 PINGAN at 10 (each through the services, each its own transaction)
    account = funded_account()
    mirror = _mirror(account.investor_id)
    moutai, pingan = book_instruments[MOUTAI].pk, book_instruments[PINGAN].pk
    # then the mirror holds, in their normal direction, what the ledger holds
    assert mirror[(RiskBalanceKind.CLIENT_MONEY, None)] == Decimal("800000")
    assert mirror[(RiskBalanceKind.FINANCING_RECEIVABLE, None)] == Decimal("300000")
    assert mirror[(RiskBalanceKind.CLIENT_SECURITIES, moutai)] == 2000
    assert mirror[(RiskBalanceKind.CLIENT_SECURITIES, pingan)] == 30000
    assert book_arrays.mirror_breaks() == []


def test_the_mirror_moves_in_the_ledger_transaction_and_rolls_back_with_it(funded_account):
    account = funded_account()
    before = _mirror(account.investor_id)
    cash = (RiskBalanceKind.CLIENT_MONEY, None)
    with pytest.raises(RuntimeError), transaction.atomic():
        _deposit_1000(account, "rolled back")
        # inside the transaction the mirror has moved with the ledger
        assert _mirror(account.investor_id)[cash] == before[cash] + 1000
        raise RuntimeError("the caller fails after the posting")
    assert _mirror(account.investor_id) == before
    assert book_arrays.mirror_breaks() == []


def test_nothing_but_the_ledger_triggers_writes_the_mirror(funded_account):
    account = funded_account()
    row = RiskBalance.objects.filter(investor_id=account.investor_id).first()
    for write in (
        lambda: RiskBalance.objects.filter(pk=row.pk).update(amount=Decimal("1")),
        lambda: RiskBalance.objects.filter(pk=row.pk).delete(),
        lambda: RiskBalance.objects.create(
            ledger_account_id=10**12, investor_id=1, kind=0, amount=Decimal("1")
        ),
    ):
        with (
            pytest.raises(IntegrityError, match="written only by the ledger triggers"),
            transaction.atomic(),
        ):
            write()
    assert book_arrays.mirror_breaks() == []


def test_a_unit_counts_once_an_instrument_has_it(make_credit_account):
    # given a securities ledger account of a unit no instrument has yet
    account = make_credit_account()
    ledger = custody.client_account(account.investor, "client_securities", "SSE:688981")
    row = RiskBalance.objects.get(ledger_account_id=ledger.pk)
    assert row.kind == RiskBalanceKind.CLIENT_SECURITIES and row.instrument_id is None
    # when the instrument is created, the mirror row is linked to it
    instrument = instruments_services.instrument_create(
        code="688981",
        exchange="SSE",
        name="SMIC",
        category="index_constituent",
        tradable_float=10**9,
        actor=None,
        reason="test",
    )
    row.refresh_from_db()
    assert row.instrument_id == instrument.pk
    assert book_arrays.mirror_breaks() == []


def _ledger_written_with_mirror_triggers_off(account):
    """A deposit and a new securities account while a session has the mirror's triggers off
    (as a bulk load or a restore with triggers disabled would): the mirror falls behind. The
    ledger's deferred checks run at each statement here, as ALTER TABLE needs none pending."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE custody_accountbalance DISABLE TRIGGER lending_riskbalance_follow"
        )
        cursor.execute("ALTER TABLE custody_ledgeraccount DISABLE TRIGGER lending_riskbalance_open")
    _deposit_1000(account, "while the mirror triggers were off")
    securities = custody.client_account(account.investor, "client_securities", "SSE:600000")
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE custody_accountbalance ENABLE TRIGGER lending_riskbalance_follow"
        )
        cursor.execute("ALTER TABLE custody_ledgeraccount ENABLE TRIGGER lending_riskbalance_open")
    return securities


def test_the_morning_check_finds_a_mirror_left_behind_and_repairs_it_from_the_ledger(
    funded_account, caplog
):
    account = funded_account()
    cash = (RiskBalanceKind.CLIENT_MONEY, None)
    before = _mirror(account.investor_id)
    securities = _ledger_written_with_mirror_triggers_off(account)
    breaks = book_arrays.mirror_breaks()
    assert {b["ledger_account"] for b in breaks} >= {securities.pk}
    assert len(breaks) == 2  # the cash account's amount, the securities account's missing row

    # when beat's morning check runs
    with caplog.at_level(logging.ERROR, logger="lending.mtm.services"):
        found = tasks_mtm.risk_mirror_verify_daily()

    # then both breaks are reported, logged, and the mirror holds what the ledger holds
    assert found == 2
    assert sum("balance mirror break" in r.getMessage() for r in caplog.records) == 2
    assert book_arrays.mirror_breaks() == []
    after = _mirror(account.investor_id)
    assert after[cash] == before[cash] + 1000
    assert RiskBalance.objects.filter(ledger_account_id=securities.pk).exists()
    # a second check finds nothing, and the repair left the guard on for everyone else
    assert tasks_mtm.risk_mirror_verify_daily() == 0
    with (
        pytest.raises(IntegrityError, match="written only by the ledger triggers"),
        transaction.atomic(),
    ):
        RiskBalance.objects.filter(investor_id=account.investor_id).update(amount=1)


def test_the_check_without_repair_reports_and_writes_nothing(funded_account):
    account = funded_account()
    _ledger_written_with_mirror_triggers_off(account)
    stale = _mirror(account.investor_id)
    assert len(mtm.risk_mirror_verify(repair=False)) == 2
    assert _mirror(account.investor_id) == stale


def test_the_short_side_is_mirrored_with_the_rest(short_desk, short_account):
    """A short sale of 1,000 SSE:600519 at 20.00 (migration 0031): the shares owed (kind 5,
    linked to the instrument), the restricted proceeds (kind 6); a cover of 400 at 20.00 moves
    both; the morning check finds no break."""
    from tests.support import market

    account = short_account(deposit="50000")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    mirror = _mirror(account.investor_id)
    assert mirror[(RiskBalanceKind.SHORT_SECURITIES, short_desk.pk)] == 1000.0
    assert mirror[(RiskBalanceKind.SHORT_PROCEEDS, None)] == 20000.0
    assert mirror[(RiskBalanceKind.CLIENT_MONEY, None)] == 50000.0
    market.traded(account, short_desk, "buy_to_cover", 400, "20.00")
    mirror = _mirror(account.investor_id)
    assert mirror[(RiskBalanceKind.SHORT_SECURITIES, short_desk.pk)] == 600.0
    # 8,000.00 paid from the proceeds; nothing above the 12,000.00 still owed is released;
    # one day's fee on 8,000.00 (round(8,000 x 0.0835 / 360, 2) = 1.86) paid from the cash
    assert mirror[(RiskBalanceKind.SHORT_PROCEEDS, None)] == 12000.0
    assert mirror[(RiskBalanceKind.CLIENT_MONEY, None)] == 49998.14
    assert mirror[(RiskBalanceKind.LENDING_FEE_RECEIVABLE, None)] == 0.0
    assert book_arrays.mirror_breaks() == []
