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

from .models import CreditAccount, Financing, FinancingStatus, Instrument, WithdrawalRequest
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


def credit_accounts_for(user) -> QuerySet[CreditAccount]:
    """Investors see their own accounts; staff with view permission see all.

    The margin state rides along (one join instead of a query per account). A user who is not
    staff is filtered through the join on the investor's user, without loading the profile
    first: one query less on every account page and API call (staff never hold a profile)."""
    qs = CreditAccount.objects.select_related("investor", "margin_state").order_by("account_number")
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


def credit_account_for(user, pk) -> CreditAccount:
    account = credit_accounts_for(user).filter(pk=pk).first()
    if account is None:
        raise NotFound("credit account: not found")
    return account


def account_view_for(user, pk) -> AccountView:
    return account_view(credit_account_for(user, pk))


def financings_of(credit_account: CreditAccount, *, open_only: bool = False) -> QuerySet[Financing]:
    qs = Financing.objects.filter(credit_account=credit_account).select_related("instrument")
    if open_only:
        qs = qs.filter(status=FinancingStatus.OPEN)
    return qs.order_by("-opened_on", "-pk")


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
