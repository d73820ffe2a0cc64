"""Reads of the book for pages, API and reports: instruments with their latest price, credit
accounts a user may see, stale prices. Valuation itself is lending.valuation.account_view."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.utils import timezone

from accounts.errors import NotFound
from compliance import calendar
from compliance import parameters as P
from compliance import selectors as compliance_selectors

from . import raw_reads, valuation
from .models import (
    AccountMarginState,
    ContractStatus,
    CreditAccount,
    CreditContract,
    Financing,
    FinancingStatus,
    Instrument,
    WithdrawalRequest,
)
from .valuation import AccountView, account_view

#: Continuous trading sessions of SSE and SZSE, Asia/Shanghai.
SESSIONS = ((time(9, 30), time(11, 30)), (time(13, 0), time(15, 0)))


def instruments(
    *, q: str = "", category: str = "", exchange: str = "", flagged: str = "", eligible: str = ""
) -> QuerySet[Instrument]:
    qs = Instrument.objects.select_related("latest_price").order_by("exchange", "code")
    if q:
        from django.db.models import Q

        qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q))
    if category:
        qs = qs.filter(category=category)
    if exchange:
        qs = qs.filter(exchange=exchange)
    if flagged == "yes":
        from django.db.models import Q

        qs = qs.filter(Q(is_st=True) | Q(suspended=True) | Q(delisting=True))
    if eligible == "yes":
        qs = qs.filter(collateral_eligible=True)
    elif eligible == "no":
        qs = qs.filter(collateral_eligible=False)
    return qs


def instrument_by_code(code: str) -> Instrument:
    code = (code or "").strip().upper()
    exchange, sep, bare = code.partition(":")
    qs = (
        Instrument.objects.filter(exchange=exchange, code=bare)
        if sep
        else Instrument.objects.filter(code=code)
    )
    found = list(qs[:2])
    if len(found) != 1:
        raise NotFound(f"instrument: {code!r} not found", extra={"field": "instrument"})
    return found[0]


def credit_accounts_for(user, *, with_investor: bool = True) -> QuerySet[CreditAccount]:
    """Investors see their own accounts; staff with view permission see all.

    The margin state rides along (one join instead of a query per account). A user who is not
    staff is filtered through the join on the investor's user, without loading the profile
    first: one query less on every account page and API call (staff never hold a profile).
    `with_investor=False` leaves the investor's profile out of the row (the filter is the
    same): for reads that show the account only, such as the account API."""
    related = ("investor", "margin_state") if with_investor else ("margin_state",)
    qs = CreditAccount.objects.select_related(*related).order_by("account_number")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if not user.is_staff:
        return qs.filter(investor__user_id=user.pk)
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        return qs.filter(investor=profile)
    if user.is_staff and user.has_perm("lending.view_creditaccount"):
        return qs
    return qs.none()


def credit_account_for(user, pk, *, with_investor: bool = True) -> CreditAccount:
    account = credit_accounts_for(user, with_investor=with_investor).filter(pk=pk).first()
    if account is None:
        raise NotFound("credit account: not found")
    return account


_ACCOUNT_FIELDS = raw_reads.fields(CreditAccount)
_STATE_FIELDS = raw_reads.fields(AccountMarginState)
_STATE_FIELD = AccountMarginState._meta.get_field("credit_account")  # CreditAccount.margin_state
_OWN_ACCOUNT_SQL = (
    f"SELECT {raw_reads.columns(CreditAccount, 'a')}, "  # noqa: S608 (model columns; values bound)
    f"{raw_reads.columns(AccountMarginState, 'm')}, "
    f"{raw_reads.columns(CreditContract, 'c')} "
    "FROM lending_creditaccount a "
    "JOIN accounts_investorprofile p ON p.id = a.investor_id "
    "LEFT JOIN lending_accountmarginstate m ON m.credit_account_id = a.id "
    f"LEFT JOIN LATERAL ({valuation.current_contract_sql('a.id')}) c ON true "
    "WHERE p.user_id = %s AND a.id = %s"
)


def credit_account_and_contract_for(user, pk) -> tuple[CreditAccount, CreditContract | None]:
    """`credit_account_for(user, pk, with_investor=False)` and its current contract
    (valuation.current_contract), what the account API reads before `account_view`.

    For a signed-in user who is not staff (an investor: the API's traffic) one statement with
    the same rule as credit_accounts_for (the account's investor is the user's profile) and
    current_contract's order (`valuation.current_contract_sql`); its rows become the same
    instances (the margin state cached on the account, None when it has none) without the ORM
    compiling a query per request (lending.raw_reads). Anyone else goes through
    credit_account_for and current_contract. Another user's account, or no account: NotFound.
    """
    if not getattr(user, "is_authenticated", False) or user.is_staff:
        account = credit_account_for(user, pk, with_investor=False)
        return account, valuation.current_contract(account)
    db, rows = raw_reads.fetch(
        CreditAccount, _OWN_ACCOUNT_SQL, [ContractStatus.ACTIVE, user.pk, pk]
    )
    if not rows:
        raise NotFound("credit account: not found")
    row = rows[0]
    a, m = len(_ACCOUNT_FIELDS), len(_ACCOUNT_FIELDS) + len(_STATE_FIELDS)
    account = raw_reads.instance(CreditAccount, db, _ACCOUNT_FIELDS, row[:a])
    state = None
    if row[a] is not None:  # the margin state's id: the account has one
        state = raw_reads.instance(AccountMarginState, db, _STATE_FIELDS, row[a:m])
        _STATE_FIELD.set_cached_value(state, account)
    _STATE_FIELD.remote_field.set_cached_value(account, state)
    contract = None
    if row[m] is not None:  # the contract's id
        contract = raw_reads.instance(CreditContract, db, valuation.CONTRACT_FIELDS, row[m:])
    return account, contract


def account_view_for(user, pk) -> AccountView:
    return account_view(credit_account_for(user, pk))


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
    one pre-built statement: the account API lists them on every call (lending.raw_reads)."""
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


def margin_state(credit_account: CreditAccount) -> str:
    """The account's margin state from the calls area when it keeps one, else "normal".
    No query when the account came from credit_accounts_for (joined there)."""
    try:
        row = credit_account.margin_state
    except ObjectDoesNotExist:
        return "normal"
    return str(row.state or "normal")


# --- stale prices -----------------------------------------------------------------------------


def _session_minutes(start: datetime, end: datetime) -> Decimal:
    """Trading-session minutes between two instants (Asia/Shanghai, trading days only)."""
    if end <= start:
        return Decimal(0)
    tz = timezone.get_current_timezone()
    start, end = start.astimezone(tz), end.astimezone(tz)
    total = 0.0
    day = start.date()
    while day <= end.date():
        if calendar.is_trading_day(day):
            for open_, close in SESSIONS:
                a = max(start, timezone.make_aware(datetime.combine(day, open_), tz))
                b = min(end, timezone.make_aware(datetime.combine(day, close), tz))
                if b > a:
                    total += (b - a).total_seconds() / 60
        day += timedelta(days=1)
        if (day - start.date()).days > 10:  # a price silent for two weeks is stale anyway
            return Decimal(10**6)
    return Decimal(str(round(total, 2)))


def in_session(now: datetime | None = None) -> bool:
    now = timezone.localtime(now or timezone.now())
    if not calendar.is_trading_day(now.date()):
        return False
    return any(open_ <= now.time() < close for open_, close in SESSIONS)


def price_is_stale(instrument: Instrument, *, now: datetime | None = None) -> bool:
    """No tick for longer than the desk's stale-price minutes of trading session time.
    Outside sessions nothing becomes stale; suspended securities are never stale."""
    now = now or timezone.now()
    if instrument.suspended:
        return False
    latest = getattr(instrument, "latest_price", None)
    if latest is None:
        return in_session(now)
    limit = compliance_selectors.parameter(P.STALE_PRICE_MINUTES, on=timezone.localdate(now))
    return _session_minutes(latest.at, now) > limit


def stale_instruments(*, now: datetime | None = None) -> list[Instrument]:
    now = now or timezone.now()
    if not in_session(now):
        return []
    qs = Instrument.objects.select_related("latest_price").filter(suspended=False)
    return [i for i in qs if price_is_stale(i, now=now)]
