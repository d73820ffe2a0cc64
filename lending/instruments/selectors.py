"""Reads of instruments for pages and the API: the list with latest prices, one by code, and
the stale-price check (a price older than its session allows)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from accounts.errors import NotFound
from compliance import calendar
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.instruments.models import Instrument

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
