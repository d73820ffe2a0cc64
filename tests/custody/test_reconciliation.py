"""Acceptance 4: a 0.01 break in an imported statement is found, shown and cleared by the
recorded top-up; plus the internal reconciliation against the client-money requirement."""

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.errors import Conflict, ValidationFailed
from custody import selectors, services
from custody.models import BreakStatus, ReconciliationStatus

pytestmark = pytest.mark.django_db


def _bank_csv(day, account_number, balance):
    header = "statement_date,account_number,currency,closing_balance"
    return f"{header}\n{day},{account_number},CNY,{balance}\n"


def test_external_break_of_one_cent_is_found_shown_and_cleared_by_top_up(
    funded_investor, treasury, client
):
    # given 1,000.00 of client money in the omnibus bank account
    funded_investor("1000.00")
    bank = services.house_account("client_bank", "CNY")
    services.ledger_account_set_external_ref(
        account=bank, external_ref="ICBC-0001", actor=treasury, reason="bank mapping"
    )
    house_bank = services.house_account("house_bank", "CNY")
    today = timezone.localdate()
    # when the bank's statement says 999.99
    statement = services.statement_import(
        source="bank",
        institution="ICBC",
        content=_bank_csv(today, "ICBC-0001", "999.99"),
        file_name="icbc.csv",
        actor=treasury,
    )
    recon = services.reconciliation_external_run(statement=statement, actor=treasury)
    # then a break of -0.01 is recorded and shown
    assert recon.status == ReconciliationStatus.BREAKS
    (brk,) = selectors.breaks_open()
    assert brk.difference == Decimal("-0.01")
    assert (brk.expected, brk.actual) == (Decimal("1000"), Decimal("999.99"))
    client.force_login(treasury)
    page = client.get(f"/admin/custody/reconciliation/{recon.pk}/change/")
    assert page.status_code == 200 and "-0.01" in page.content.decode()
    # when treasury records the top-up from house money
    services.reconciliation_break_resolve(brk=brk, actor=treasury, reason="bank fee; house pays")
    brk.refresh_from_db()
    recon.refresh_from_db()
    # then the break is cleared, with the entry, who and when, and house money paid it
    assert brk.status == BreakStatus.RESOLVED and brk.resolution == "top_up"
    assert brk.resolved_by == treasury and brk.resolution_entry is not None
    assert recon.status == ReconciliationStatus.RESOLVED
    assert selectors.account_balance(account=house_bank) == Decimal("-0.01")
    assert not selectors.breaks_open().exists()
    # and re-running the reconciliation on the same statement finds no new break
    again = services.reconciliation_external_run(statement=statement, actor=treasury)
    assert again.status == ReconciliationStatus.RESOLVED
    assert not selectors.breaks_open().exists()
    with pytest.raises(Conflict):
        services.reconciliation_break_resolve(brk=brk, actor=treasury, reason="twice")


def test_custodian_statement_reconciles_holdings_as_units(make_investor, treasury):
    investor = make_investor()
    custodian = services.house_account("custodian", "SSE:600519")
    holdings = services.client_account(investor, "client_securities", "SSE:600519")
    services.entry_post(
        legs=[
            services.debit(custodian, Decimal("300")),
            services.credit(holdings, Decimal("300")),
        ],
        memo="transfer in",
        kind="securities",
        actor=treasury,
    )
    services.ledger_account_set_external_ref(
        account=custodian, external_ref="CSDC-B881", actor=treasury, reason="custodian mapping"
    )
    statement = services.statement_import(
        source="custodian",
        institution="CSDC",
        content=(
            "statement_date,custody_account,instrument,quantity\n"
            f"{timezone.localdate()},CSDC-B881,SSE:600519,300\n"
        ),
        file_name="csdc.csv",
        actor=treasury,
    )
    recon = services.reconciliation_external_run(statement=statement, actor=treasury)
    assert recon.status == ReconciliationStatus.MATCHED


def test_statement_import_refuses_bad_files_naming_the_line(treasury):
    bank = services.house_account("client_bank", "CNY")
    services.ledger_account_set_external_ref(
        account=bank, external_ref="ICBC-0001", actor=treasury, reason="mapping"
    )
    day = timezone.localdate()
    for content, field in [
        ("date,acct\n", "file"),
        (_bank_csv(day, "UNKNOWN-9", "1.00"), "account_number"),
        (_bank_csv(day, "ICBC-0001", "NaN"), "closing_balance (line 2)"),
        (_bank_csv("2026-13-01", "ICBC-0001", "1.00"), "statement_date"),
    ]:
        with pytest.raises(ValidationFailed) as info:
            services.statement_import(
                source="bank",
                institution="ICBC",
                content=content,
                file_name="x.csv",
                actor=treasury,
            )
        assert info.value.extra["field"] == field
    services.statement_import(
        source="bank",
        institution="ICBC",
        content=_bank_csv(day, "ICBC-0001", "0"),
        file_name="ok.csv",
        actor=treasury,
    )
    with pytest.raises(Conflict, match="already imported"):
        services.statement_import(
            source="bank",
            institution="ICBC",
            content=_bank_csv(day, "ICBC-0001", "0"),
            file_name="ok-again.csv",
            actor=treasury,
        )


def test_client_money_requirement_and_internal_reconciliation(funded_investor, treasury):
    # given two clients with cash, one of whom owes 400 of financing
    rich = funded_investor("1000.00")
    funded_investor("500.00")
    financing = services.client_account(rich, "financing_receivable", "CNY")
    house_bank = services.house_account("house_bank", "CNY")
    services.entry_post(
        legs=[
            services.debit(financing, Decimal("400")),
            services.credit(house_bank, Decimal("400")),
        ],
        memo="financed purchase",
        kind="financing",
        actor=treasury,
    )
    today = timezone.localdate()
    requirement = services.client_money_requirement_compute(
        business_date=today, currency="CNY", actor=treasury
    )
    # credits 1,500; debits counted 400 (up to that client's own credit) -> requirement 1,100
    assert (requirement.credits, requirement.debits) == (Decimal("1500"), Decimal("400"))
    assert requirement.requirement == Decimal("1100")
    assert requirement.segregated_funds == Decimal("1500")
    # its inputs per client: a line each (rich: credit 1,000, debit 400 counted in full)
    assert requirement.clients == requirement.lines.count() == 2
    line = requirement.lines.get(investor=rich)
    assert (line.credit, line.debit, line.debit_counted) == (1000, 400, 400)
    # when the internal reconciliation runs, the 400 excess is a break
    recon = services.reconciliation_internal_run(
        business_date=today, currency="CNY", actor=treasury
    )
    (brk,) = recon.breaks.all()
    assert brk.difference == Decimal("400")
    # and withdrawing the excess to house money clears it
    services.reconciliation_break_resolve(brk=brk, actor=treasury, reason="excess to house")
    again = services.reconciliation_internal_run(
        business_date=today, currency="CNY", actor=treasury
    )
    assert again.status == ReconciliationStatus.RESOLVED
    assert again.requirement.segregated_funds == again.requirement.requirement == Decimal("1100")
    assert selectors.trial_balance().balanced
