"""The trading calendar warns before it ends (issue 18, the calendar): from the dated warning
period (60 days, desk policy) before its last known session every staff page carries a
banner naming the year whose holidays must be entered, and a blocking one on and after that
session; the daily beat check says the same in the log. Investors see nothing of it."""

from datetime import date, timedelta

import pytest
from django.conf import settings

from compliance import calendar, selectors
from compliance.tasks import calendar_horizon_check
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def warning_today(db):
    """A dated warning period from today long enough that today is in it, whatever the date
    and however many years the calendar knows (a real row of the parameter table)."""
    from django.utils import timezone

    from compliance import parameters as P
    from compliance import services

    services.parameter_add(
        key=P.CALENDAR_WARNING_DAYS, effective_from=timezone.localdate(), value=100000,
        source="test: the whole known calendar is within the warning period", actor=None,
    )  # fmt: skip


def _last_session() -> date:
    return calendar.previous_trading_day(date(calendar.known_years()[1], 12, 31))


def test_the_horizon_levels_follow_the_dated_warning_period():
    last = _last_session()
    assert selectors.calendar_horizon(on=last - timedelta(days=61)).level == "ok"
    warning = selectors.calendar_horizon(on=last - timedelta(days=60))
    assert (warning.level, warning.days_left) == ("warning", 60)
    assert warning.next_year == last.year + 1
    assert selectors.calendar_horizon(on=last).level == "blocking"


def test_staff_pages_carry_the_banner_and_investors_do_not(
    warning_today, staff, make_investor, client
):
    horizon = selectors.calendar_horizon()
    assert horizon.level == "warning"
    login_verified(client, staff["compliance"])
    page = client.get("/staff/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="calendar-banner"' in page and f"the {horizon.next_year} holidays" in page
    assert 'href="/staff/compliance/calendar/"' in page
    investor = make_investor()
    client.force_login(investor.user)
    assert 'id="calendar-banner"' not in client.get("/portal/").content.decode()


def test_the_daily_beat_check_warns_in_the_log(warning_today, caplog):
    schedule = settings.CELERY_BEAT_SCHEDULE["compliance-calendar-horizon-check"]
    assert schedule["task"] == "compliance.tasks.calendar_horizon_check"
    with caplog.at_level("WARNING", logger="compliance.tasks"):
        level = calendar_horizon_check()
    assert level == "warning"
    assert f"enter the {selectors.calendar_horizon().next_year} holidays" in caplog.text
