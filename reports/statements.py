"""The client monthly statement snapshot (DOMAIN.md, Reporting: contract terms, Art. 15).

Built like a filing: selectors at one as-of time (the end of the period's last day), no
generation time, canonical JSON hashed. What exists today is read for real: the investor
profile (accounts) and the ledger position (custody.selectors.client_position: cash,
securities held, financing receivable) and the credit account from lending:
`credit_summary` (lending.financing.valuation.account_view at the month end: ledger balances and
prices at that instant) and `financings` (the financing lots as their history rows stood
then). An investor without a credit account at the month end gets `credit: null` and
`financings: null`, and the PDF says so. Never invent figures.

Known limitation: account_view splits holdings into financed and own shares with the current
financing rows (lending does not version that split by time); it changes only the available
margin, not assets, liabilities, collateral value or the ratio.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from . import selectors

SCHEMA = 2
CENT = Decimal("0.01")
RATIO_Q = Decimal("0.0001")


def period_for(year: int, month: int) -> tuple[date, date]:
    last = calendar.monthrange(year, month)[1]
    return date(year, month, 1), date(year, month, last)


def period_as_of(period_end: date) -> datetime:
    """The last instant of the period's last day, in the desk's time zone."""
    return timezone.make_aware(datetime.combine(period_end + timedelta(days=1), time.min)) - (
        timedelta(microseconds=1)
    )


def _credit_account(*, investor, as_of: datetime):
    from lending.models import CreditAccount

    return (
        CreditAccount.objects.filter(investor_id=investor.pk, opened_at__lte=as_of)
        .order_by("-opened_at", "-pk")
        .first()
    )


def _contract_as_of(*, credit_account, as_of: datetime):
    """The contract active at as_of (as its history row stood then), else the latest one."""
    from lending.models import CreditContract

    rows = selectors.history_as_of(CreditContract, as_of, credit_account_id=credit_account.pk)
    rows.sort(key=lambda c: (c.signed_on, c.id), reverse=True)
    active = [c for c in rows if c.status == "active"]
    return (active or rows or [None])[0]


def credit_summary(*, investor, as_of: datetime) -> dict | None:
    """Credit limit and unused part; total assets, liabilities, available margin, withdrawable
    amount, collateral value, maintenance ratio (None when no debt), from
    lending.financing.valuation.account_view at `as_of` (ledger balances and prices at that
    instant).
    None when the investor had no credit account then."""
    from lending.financing.valuation import account_view

    account = _credit_account(investor=investor, as_of=as_of)
    if account is None:
        return None
    contract = _contract_as_of(credit_account=account, as_of=as_of)
    view = account_view(account, as_of=as_of)
    limit = contract.credit_limit if contract else Decimal(0)
    return {
        "account_number": account.account_number,
        "contract_number": contract.contract_number if contract else "",
        "annual_interest_rate": contract.annual_interest_rate if contract else None,
        "credit_limit": limit,
        "credit_unused": max(limit - view.financing_debt, Decimal(0)),
        "financing_outstanding": view.financing_debt,
        "interest_and_fees": view.accrued_interest,
        "cash": view.cash,
        "total_assets": view.total_assets,
        "liabilities": view.total_liabilities,
        "available_margin": view.available_margin,
        "withdrawable": view.withdrawable_cash,
        "collateral_value": view.collateral_value.quantize(CENT),
        "maintenance_ratio": (
            None if view.maintenance_ratio is None else view.maintenance_ratio.quantize(RATIO_Q)
        ),
        "lines": {
            "warning": view.lines.warning,
            "call": view.lines.call,
            "target": view.lines.target,
            "withdrawal": view.lines.withdrawal,
        },
    }


def financings(*, investor, as_of: datetime, period_start: date | None = None) -> list | None:
    """One row per financing open at some time during the period (open at `as_of`, or repaid
    on or after the period's first day): instrument, quantity, price, amount, outstanding
    principal, interest (accrued unpaid + paid), fees, opened and due dates, as the lot's
    history row stood at `as_of`. None when the investor had no credit account then."""
    from lending.models import Financing

    account = _credit_account(investor=investor, as_of=as_of)
    if account is None:
        return None
    rows = (
        Financing.history.filter(credit_account_id=account.pk, history_date__lte=as_of)
        .order_by("id", "-history_date", "-history_id")
        .distinct("id")
    )
    units = selectors.instrument_units()
    result = []
    for f in sorted(rows, key=lambda r: (r.opened_on, r.id)):
        if f.history_type == "-":
            continue
        if f.status != "open" and (
            period_start is None or timezone.localtime(f.history_date).date() < period_start
        ):
            continue
        result.append(
            {
                "number": f.id,
                "instrument": units.get(f.instrument_id, str(f.instrument_id)),
                "quantity": f.quantity,
                "price": f.price,
                "amount": f.amount,
                "principal_outstanding": f.principal_outstanding,
                "interest": f.interest_accrued + f.interest_paid,
                "interest_unpaid": f.interest_accrued,
                # Financing carries no fee: the desk charges interest only (lending.models).
                "fees": Decimal("0.00"),
                "opened_on": f.opened_on,
                "due_date": f.due_on,
                "status": f.status,
            }
        )
    return result


def _ledger_position(*, investor, as_of: datetime) -> dict:
    from custody import selectors as custody

    position = custody.client_position(investor=investor, as_of=as_of)
    return {
        "cash": [{"currency": c, "balance": position.cash[c]} for c in sorted(position.cash)],
        "holdings": [
            {"instrument": u, "quantity": position.holdings[u]}
            for u in sorted(position.holdings)
            if position.holdings[u] != 0
        ],
        "financing_receivable": [
            {"currency": c, "amount": position.financing[c]} for c in sorted(position.financing)
        ],
    }


def build_statement(*, investor_id: int, period_start: date, period_end: date) -> dict:
    as_of = period_as_of(period_end)
    profile = selectors.investor_as_of(investor_id=investor_id, as_of=as_of)
    if profile is None:
        raise LookupError(f"investor {investor_id} did not exist at {as_of.isoformat()}")
    credit = credit_summary(investor=profile, as_of=as_of)
    rows = financings(investor=profile, as_of=as_of, period_start=period_start)
    return {
        "kind": "client_statement",
        "schema": SCHEMA,
        "as_of": as_of,
        "data": {
            "investor": {
                "number": profile.pk,
                "real_name": profile.real_name,
                "investor_type": profile.investor_type,
                "category": profile.category,
                "id_type": profile.id_type,
                "id_number_masked": profile.id_number_masked,
            },
            "period": {"start": period_start, "end": period_end},
            "ledger": _ledger_position(investor=profile, as_of=as_of),
            "credit": credit,
            "financings": rows,
            "has_credit_account": credit is not None,
        },
    }
