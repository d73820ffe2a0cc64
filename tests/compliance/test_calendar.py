"""The Shanghai trading calendar: holidays skipped, and a loud refusal past the known years."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.roles import Role
from compliance import calendar
from compliance.calendar import CalendarExhausted
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


def test_national_day_2025_is_skipped():
    # 2025-09-30 is the last session before the National Day closure (10-01 .. 10-08)
    assert calendar.add_trading_days(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert calendar.add_trading_days(date(2025, 10, 9), -1) == date(2025, 9, 30)
    assert not calendar.is_trading_day(date(2025, 10, 8))
    assert calendar.is_trading_day(date(2025, 10, 9))
    assert len(calendar.trading_days_between(date(2025, 9, 29), date(2025, 10, 10))) == 4


def test_two_trading_days_after_a_friday_call():
    assert calendar.add_trading_days(date(2026, 2, 13), 2) == date(2026, 2, 25)
    assert calendar.add_trading_days(date(2026, 2, 14), 0) == date(2026, 2, 14)


def test_last_20_trading_days_span_spring_festival_2026():
    days = calendar.last_n_trading_days(date(2026, 3, 6), 20)
    assert len(days) == 20
    assert days[0] == date(2026, 1, 30)  # a weekday count would have started on 02-09
    assert days[-1] == date(2026, 3, 6)
    assert not any(date(2026, 2, 16) <= d <= date(2026, 2, 23) for d in days)


def test_past_the_known_calendar_fails_naming_the_date_until_staff_add_the_year(client, make_user):
    # given the calendar is known up to 2026-12-31
    assert calendar.known_years()[1] == 2026
    # when a deadline two trading days after 2026-12-30 is computed
    with pytest.raises(CalendarExhausted) as info:
        calendar.add_trading_days(date(2026, 12, 30), 2)
    # then the error names the first unknown date
    assert "2027-01-01" in info.value.message
    assert info.value.extra["date"] == "2027-01-01"
    # when a compliance officer proposes the 2027 holidays with the exchange's notice on the
    # staff page and a second officer approves them (four eyes: test_calendar_four_eyes.py)
    officer, checker = make_user(Role.COMPLIANCE), make_user(Role.COMPLIANCE)
    login_verified(client, officer)
    page = client.get("/staff/compliance/calendar/")
    assert page.status_code == 200
    response = client.post(
        "/staff/compliance/calendar/",
        {
            "action": "propose",
            "year": "2027",
            "source": "SSE notice on 2027 holidays",
            "holidays": "2027-01-01 New Year\n2027-02-08 Spring Festival\n",
            "document": SimpleUploadedFile("sse-2027.txt", b"SSE notice 2027"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    from compliance.models import CalendarYear, CalendarYearProposal

    login_verified(client, checker)
    proposal = CalendarYearProposal.objects.get(year=2027)
    response = client.post(
        "/staff/compliance/calendar/", {"action": "approve", "proposal": proposal.pk}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    # then the same computation succeeds, and skips the new holiday
    assert calendar.add_trading_days(date(2026, 12, 30), 2) == date(2027, 1, 4)
    assert not calendar.is_trading_day(date(2027, 2, 8))
    assert CalendarYear.objects.get(year=2027).history.first().history_user == checker


def test_year_must_extend_the_known_range_without_gaps(make_user):
    from accounts.errors import ValidationFailed
    from compliance import services

    with pytest.raises(ValidationFailed, match="2027"):
        services.calendar_year_propose(
            year=2028,
            holiday_lines="",
            source="x",
            document_name="n.pdf",
            document_content=b"%PDF",
            actor=make_user(Role.COMPLIANCE),
        )


def test_investor_cannot_edit_the_calendar(client, make_user):
    client.force_login(make_user(Role.INVESTOR))
    assert client.get("/staff/compliance/calendar/").status_code in (302, 403)


def test_add_months_clamps_month_end():
    assert calendar.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert calendar.add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
