"""Reads of what is booked on an account, for pages, the API and reports: financings (also as
one pre-built statement for the account API) and withdrawals. Valuation itself is
lending.financing.valuation.account_view."""

from __future__ import annotations

from django.db.models import QuerySet

from lending.credit.models import CreditAccount
from lending.financing import raw_reads
from lending.financing.models import (
    CollateralTransferIn,
    Financing,
    FinancingStatus,
    WithdrawalRequest,
)
from lending.instruments.models import Instrument


def financings_of(credit_account: CreditAccount, *, open_only: bool = False) -> QuerySet[Financing]:
    qs = Financing.objects.filter(credit_account=credit_account).select_related("instrument")
    if open_only:
        qs = qs.filter(status=FinancingStatus.OPEN)
    return qs.order_by("-opened_on", "-pk")


_FINANCING_FIELDS = raw_reads.fields(Financing)


_INSTRUMENT_FIELDS = raw_reads.fields(Instrument)


_FINANCINGS_SQL = (
    f"SELECT {raw_reads.columns(Financing, 'f')}, "  # noqa: S608 (model columns; values bound)
    f"{raw_reads.columns(Instrument, 'i')} "
    "FROM lending_financing f JOIN lending_instrument i ON i.id = f.instrument_id "
    "WHERE f.credit_account_id = %s ORDER BY f.opened_on DESC, f.id DESC LIMIT %s"
)


def financings_listed(credit_account: CreditAccount, *, limit: int) -> list[Financing]:
    """`financings_of(credit_account)[:limit]` (the latest first, each with its instrument) in
    one pre-built statement: the account API lists them on every call
    (lending.financing.raw_reads)."""
    db, rows = raw_reads.fetch(Financing, _FINANCINGS_SQL, [credit_account.pk, limit])
    split = len(_FINANCING_FIELDS)
    listed = []
    for row in rows:
        financing = raw_reads.instance(Financing, db, _FINANCING_FIELDS, row[:split])
        instrument = raw_reads.instance(Instrument, db, _INSTRUMENT_FIELDS, row[split:])
        Financing.instrument.field.set_cached_value(financing, instrument)
        listed.append(financing)
    return listed


def withdrawals_of(credit_account: CreditAccount) -> QuerySet[WithdrawalRequest]:
    return WithdrawalRequest.objects.filter(credit_account=credit_account).select_related(
        "instrument"
    )


def transfers_in_of(account, *, limit: int = 10):
    """The account's collateral transfers in, newest first."""
    return CollateralTransferIn.objects.filter(credit_account=account).select_related("instrument")[
        :limit
    ]
