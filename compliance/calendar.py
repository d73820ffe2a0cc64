"""The Shanghai Stock Exchange (XSHG) trading calendar, from the desk's own holiday table.

A trading day is a Monday-Friday that is not an `ExchangeHoliday`, in a year that has a
`CalendarYear` row. Holidays of a year are published each December; until staff enter them
(staff page "Trading calendar" or the admin), every computation that reaches into that year
fails with `CalendarExhausted` naming the first unknown date: the desk never guesses a
deadline. The table is seeded from exchange_calendars (migration 0002).

Used by compliance (20-trading-day asset average) and lending (margin-call deadlines).
Each call reads the table afresh (a couple of small queries), so a holiday added by staff
is seen at once by every process.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils.translation import gettext as _

from accounts.errors import RuleViolation, ValidationFailed

from .models import CalendarYear, ExchangeHoliday


class CalendarExhausted(RuleViolation):
    """A computation needs a day outside the years whose holidays are known."""

    default_code = "calendar_exhausted"

    def __init__(self, day: date, known: tuple[int, int] | None) -> None:
        span = f"known for {known[0]}-{known[1]}" if known else "no year is known yet"
        super().__init__(
            f"date: {day.isoformat()} is beyond the known Shanghai exchange calendar ({span}); "
            f"staff must enter the {day.year} exchange holidays before the desk computes it",
            extra={"field": "date", "date": day.isoformat(), "year": day.year},
        )
        self.day = day


class _Calendar:
    """One read of the table, holidays loaded a year at a time as the walk needs them."""

    def __init__(self) -> None:
        self.years = set(CalendarYear.objects.values_list("year", flat=True))
        self._holidays: dict[int, set[date]] = {}

    def known(self) -> tuple[int, int] | None:
        return (min(self.years), max(self.years)) if self.years else None

    def is_trading_day(self, day: date) -> bool:
        if day.year not in self.years:
            raise CalendarExhausted(day, self.known())
        if day.weekday() >= 5:
            return False
        if day.year not in self._holidays:
            self._holidays[day.year] = set(
                ExchangeHoliday.objects.filter(date__year=day.year).values_list("date", flat=True)
            )
        return day not in self._holidays[day.year]

    def step(self, day: date, n: int) -> date:
        direction = 1 if n >= 0 else -1
        remaining = abs(n)
        while remaining:
            day += timedelta(days=direction)
            if self.is_trading_day(day):
                remaining -= 1
        return day


def _check_date(value, field: str) -> None:
    if not isinstance(value, date):
        raise ValidationFailed(
            _("%(field)s: a date is required") % {"field": field}, extra={"field": field}
        )


def is_trading_day(day: date) -> bool:
    _check_date(day, "date")
    return _Calendar().is_trading_day(day)


def add_trading_days(day: date, n: int) -> date:
    """The n-th trading day after `day` (before it when n < 0); `day` itself when n == 0.

    `day` need not be a trading day: add_trading_days(saturday, 1) is the next trading day.
    """
    _check_date(day, "date")
    return _Calendar().step(day, n)


def trading_days_between(start: date, end: date) -> list[date]:
    """Trading days d with start <= d <= end, ascending (len() gives the count)."""
    _check_date(start, "start")
    _check_date(end, "end")
    if end < start:
        raise ValidationFailed(_("end: must not be before start"), extra={"field": "end"})
    calendar = _Calendar()
    days = []
    day = start
    while day <= end:
        if calendar.is_trading_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def last_n_trading_days(end: date, n: int) -> list[date]:
    """The n trading days ending at `end` (included when it trades), ascending."""
    _check_date(end, "end")
    if n < 1:
        raise ValidationFailed(_("n: at least one trading day"), extra={"field": "n"})
    calendar = _Calendar()
    days: list[date] = []
    day = end
    while len(days) < n:
        if calendar.is_trading_day(day):
            days.append(day)
        day -= timedelta(days=1)
    return sorted(days)


def previous_trading_day(day: date, *, inclusive: bool = True) -> date:
    """The latest trading day on or before `day` (strictly before when not inclusive)."""
    calendar = _Calendar()
    if not inclusive:
        day -= timedelta(days=1)
    while not calendar.is_trading_day(day):
        day -= timedelta(days=1)
    return day


def known_years() -> tuple[int, int] | None:
    return _Calendar().known()


def add_months(day: date, months: int) -> date:
    """Calendar-month arithmetic (not trading days): 2026-08-31 + 6 months = 2027-02-28."""
    import calendar as _cal

    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _cal.monthrange(year, month)[1]))
