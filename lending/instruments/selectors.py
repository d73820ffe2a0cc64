"""Reads of instruments for pages and the API: the list with latest prices, one by code, the
stale-price check (a price older than its session allows) and the daily price band of an
instrument on a day (`instrument_band`; prices_ingest and valuation use `band_of`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import NotFound
from compliance import calendar
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.domain import prices as price_rules
from lending.instruments import exchange_lists
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
        raise NotFound(
            _("instrument: %(code)s not found") % {"code": repr(code)},
            extra={"field": "instrument"},
        )
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


# --- daily price band -------------------------------------------------------------------------

_PRICES_PREFIX = "prices."


@dataclass(frozen=True)
class BandParameters:
    """The market parameters in force on one day, read at once: the price band's
    (compliance: prices.*) and the collateral haircut caps per category
    (collateral.haircut_cap.*)."""

    on: date
    values: dict[str, Decimal]

    def _value(self, key: str) -> Decimal:
        if key not in self.values:
            raise compliance_selectors.parameter_missing(key, self.on)
        return self.values[key]

    def fraction(self, board: str, is_st: bool) -> Decimal:
        prefix = P.PRICE_BAND_ST_PREFIX if is_st else P.PRICE_BAND_PREFIX
        return self._value(prefix + board)

    def no_band_days(self, board: str) -> int:
        return int(self._value(P.NO_BAND_DAYS_PREFIX + board))

    def haircut_cap(self, category: str) -> Decimal:
        return self._value(P.HAIRCUT_CAP_PREFIX + category)

    def tick(self, category: str) -> Decimal:
        # the table keeps six places (0.010000): the band's edges keep the tick's own
        return self._value(P.PRICE_TICK_PREFIX + category).normalize()

    def suspended_discount(self) -> Decimal:
        """The desk's dated discount on a suspended security's last price (0: the last price)."""
        return self._value(P.SUSPENDED_VALUATION_DISCOUNT)


def band_parameters(on: date) -> BandParameters:
    """One query: every price-band parameter, haircut cap and valuation policy (the suspended
    securities' discount) in force on `on`."""
    return BandParameters(
        on,
        compliance_selectors.parameters_in_force(
            _PRICES_PREFIX, P.HAIRCUT_CAP_PREFIX, P.VALUATION_PREFIX, on=on
        ),
    )


#: Where the haircut in force comes from (the lowest of the three; every source at the minimum
#: is named): the desk's own (0 off its eligible list or while ST / suspended / delisting), the
#: exchange's conversion rate (0 off the exchange's eligible-collateral list in force), the
#: category's dated cap.
SOURCE_DESK = "desk"
SOURCE_EXCHANGE = "exchange"
SOURCE_CAP = "cap"


@dataclass(frozen=True)
class HaircutInForce:
    """The haircut in force on a day with its three candidates; `exchange` is None when no
    eligible-collateral list of the instrument's exchange was in force (the desk's stands)."""

    value: Decimal
    desk: Decimal
    exchange: Decimal | None
    cap: Decimal

    @property
    def sources(self) -> tuple[str, ...]:
        candidates = (
            (SOURCE_DESK, self.desk),
            (SOURCE_EXCHANGE, self.exchange),
            (SOURCE_CAP, self.cap),
        )
        return tuple(name for name, v in candidates if v is not None and v == self.value)


def haircut_in_force(
    instrument: Instrument, params: BandParameters, exchange_rate: Decimal | None = None
) -> HaircutInForce:
    """The lowest of the desk's effective haircut, the exchange's conversion rate in force
    (`exchange_rate`: lending.instruments.exchange_lists; None without a list in force) and
    the category's cap in force on `params.on`."""
    desk = instrument.effective_haircut
    cap = params.haircut_cap(instrument.category)
    value = min(desk, cap) if exchange_rate is None else min(desk, exchange_rate, cap)
    return HaircutInForce(value=value, desk=desk, exchange=exchange_rate, cap=cap)


def capped_haircut(
    instrument: Instrument, params: BandParameters, exchange_rate: Decimal | None = None
) -> Decimal:
    """The haircut valuation uses: the instrument's effective haircut (0 off the eligible list
    or while flagged), never above the exchange's conversion rate in force that day (0 off the
    exchange's list; `exchange_rate` None: no list in force) nor above its category's cap in
    force that day (a later, lower dated cap or a new exchange list applies from the day it
    takes effect, without editing the instrument)."""
    return haircut_in_force(instrument, params, exchange_rate).value


def haircuts_in_force(
    instruments: Iterable[Instrument], *, on: date | None = None
) -> dict[int, HaircutInForce]:
    """{instrument id: haircut in force on `on` (today), with its candidates} for a page or
    an API list: two queries whatever the number (the dated caps, the exchange rates)."""
    instruments = list(instruments)
    if not instruments:
        return {}
    on = on or timezone.localdate()
    params = band_parameters(on)
    rates = exchange_lists.exchange_rates([i.pk for i in instruments], on)
    return {i.pk: haircut_in_force(i, params, rates.get(i.pk)) for i in instruments}


def valuation_price(instrument: Instrument, price: Decimal, params: BandParameters) -> Decimal:
    """The price a position is valued at: the latest price, less the desk's dated discount
    while the security is suspended (its last price x (1 - discount))."""
    if instrument.suspended and price:
        return price * (1 - params.suspended_discount())
    return price


#: A listing this many calendar days back is past any first-days window (a few weeks of
#: trading days at most): the calendar is read only for recent listings.
_FIRST_DAYS_HORIZON = timedelta(days=60)


def in_first_days(instrument: Instrument, on: date, params: BandParameters) -> bool:
    """Whether `on` is among the instrument's first trading days without a band."""
    listed_on = instrument.listed_on
    if listed_on is None or on < listed_on or on - listed_on > _FIRST_DAYS_HORIZON:
        return False
    days = params.no_band_days(instrument.board)
    if days <= 0:
        return False
    count = len(calendar.trading_days_between(listed_on, on))
    return price_rules.in_first_days(count, days)


def band_of(
    instrument: Instrument,
    *,
    on: date,
    prev_close: Decimal | None,
    params: BandParameters | None = None,
) -> price_rules.PriceBand | None:
    """The instrument's band on `on` around `prev_close` (its board's dated fraction, the ST
    fraction while ST, the category's tick); None when there is none: no previous close (a
    first price) or a new listing's first trading days."""
    if prev_close is None or prev_close <= 0:
        return None
    params = params or band_parameters(on)
    if in_first_days(instrument, on, params):
        return None
    return price_rules.price_band(
        prev_close,
        params.fraction(instrument.board, instrument.is_st),
        params.tick(instrument.category),
    )


def day_start(day: date) -> datetime:
    """Midnight of `day` in the desk's time zone (Asia/Shanghai)."""
    return timezone.make_aware(datetime.combine(day, time.min))


# The last price before each (instrument, day start): the last tick before it, or the latest
# price when that is older (a latest price written without ticks, e.g. a bulk load), or the
# latest price's previous close when the latest price is of that day.
_PREVIOUS_CLOSE_SQL = """
SELECT t.i, t.s, r.at, r.price
  FROM unnest(%s::bigint[], %s::timestamptz[]) AS t(i, s)
  CROSS JOIN LATERAL (
      SELECT u.at, u.price FROM (
          (SELECT p.at, p.price FROM lending_pricetick p
            WHERE p.instrument_id = t.i AND p.at < t.s ORDER BY p.at DESC LIMIT 1)
          UNION ALL
          SELECT lp.at, lp.price FROM lending_latestprice lp
           WHERE lp.instrument_id = t.i AND lp.at < t.s
          UNION ALL
          SELECT t.s - interval '1 microsecond', lp.prev_close FROM lending_latestprice lp
           WHERE lp.instrument_id = t.i AND lp.prev_close IS NOT NULL
             AND lp.at >= t.s AND lp.at < t.s + interval '1 day'
      ) u ORDER BY u.at DESC LIMIT 1
  ) r
"""


def previous_closes(
    pairs: Iterable[tuple[int, date]],
) -> dict[tuple[int, date], tuple[datetime, Decimal]]:
    """{(instrument id, day): (at, price)} of the last price before each day began (the
    previous close), in one statement; a pair without any earlier price is absent."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    starts = {day: day_start(day) for _pk, day in pairs}
    by_start = {(pk, starts[day]): (pk, day) for pk, day in pairs}
    with connection.cursor() as cursor:
        cursor.execute(
            _PREVIOUS_CLOSE_SQL, [[pk for pk, _d in pairs], [starts[d] for _pk, d in pairs]]
        )
        rows = cursor.fetchall()
    return {by_start[(pk, start)]: (at, price) for pk, start, at, price in rows}


def instrument_band(
    instrument: Instrument, *, on: date | None = None
) -> price_rules.PriceBand | None:
    """The instrument's daily price band on `on` (today by default) around its previous close;
    None when it has none (no earlier price, or a new listing's first trading days). What a
    tick and an order's limit price must fall in."""
    on = on or timezone.localdate()
    previous = previous_closes([(instrument.pk, on)]).get((instrument.pk, on))
    return band_of(instrument, on=on, prev_close=previous[1] if previous else None)
