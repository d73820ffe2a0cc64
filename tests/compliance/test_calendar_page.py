"""The trading calendar page lists each known year's exchange holidays (date, weekday and name
when one was entered) and the year's source: the exchange's notice with its SHA-256 and a link
to the file for a year entered from a proposal, the source text for a seeded year."""

import re
from datetime import date

import pytest
from django.urls import reverse

from accounts.roles import Role
from compliance import services
from compliance.models import CalendarYear, ExchangeHoliday
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

URL = reverse("staff:compliance-calendar")
NOTICE = "上海证券交易所关于2027年休市安排的通知\n".encode()


def _year_section(html: str, year: int) -> str:
    found = re.search(
        rf'<details class="calendar-year" data-year="{year}".*?</details>', html, re.S
    )
    assert found, year
    return found.group(0)


def test_each_year_lists_its_holidays_and_its_source(make_user, client):
    maker, checker = make_user(Role.COMPLIANCE), make_user(Role.COMPLIANCE)
    proposal = services.calendar_year_propose(
        year=2027,
        holiday_lines="2027-01-01 New Year\n2027-02-08 Spring Festival\n2027-02-09",
        source="SSE notice on the 2027 holidays",
        document_name="sse-2027.txt",
        document_content=NOTICE,
        actor=maker,
    )
    services.calendar_year_decide(proposal=proposal, approve=True, reason="", actor=checker)

    login_verified(client, make_user(Role.AUDITOR))
    html = client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    year = _year_section(html, 2027)
    assert "exchange holidays on weekdays: 3" in year
    rows = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td><td>(\w+)</td><td>([^<]*)</td></tr>", year)
    assert rows == [
        ("2027-01-01", "Friday", "New Year"),
        ("2027-02-08", "Monday", "Spring Festival"),
        ("2027-02-09", "Tuesday", "—"),
    ]
    assert CalendarYear.objects.get(year=2027).source in year
    document = reverse("staff:compliance-calendar-document", args=[proposal.pk])
    assert f'<a href="{document}">sse-2027.txt</a>' in year
    assert proposal.document_sha256 in year
    assert checker.email in year and maker.email in year

    # a seeded year: every holiday of the year, its source, no notice on file
    seeded = _year_section(html, 2026)
    days = ExchangeHoliday.objects.filter(date__year=2026).order_by("date")
    assert days.exists()
    listed = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td>", seeded)
    assert listed == [d.date.isoformat() for d in days]
    assert CalendarYear.objects.get(year=2026).source in seeded
    assert "Entered without a proposal" in seeded


def test_weekdays_follow_the_readers_language(make_user, client):
    login_verified(client, make_user(Role.COMPLIANCE))
    html = client.get(URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    seeded = _year_section(html, 2026)
    first = ExchangeHoliday.objects.filter(date__year=2026).order_by("date").first().date
    assert first == date(2026, 1, 1)
    assert "<tr><td>2026-01-01</td><td>星期四</td></tr>" in seeded
