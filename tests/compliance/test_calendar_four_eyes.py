"""Issue 18 item 7: compliance enters a year's exchange holidays with four eyes and the source
document. One officer proposes the year with the exchange's notice attached (kept with its
SHA-256); nothing is known until a second person approves, never the proposer (the service and
a CHECK constraint); a rejection needs a reason. Seeds and the demo add years as the system."""

import hashlib
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts.errors import RuleViolation, ValidationFailed
from accounts.roles import Role
from compliance import calendar, services
from compliance.models import CalendarYear, CalendarYearProposal
from tests.second_factor import login_verified, second_factor

pytestmark = pytest.mark.django_db

URL = "/staff/compliance/calendar/"
NOTICE = (
    "上海证券交易所关于2027年休市安排的通知\n元旦 2027-01-01 休市\n春节 2027-02-08 休市\n".encode()
)


def notice_file(content=NOTICE):
    return SimpleUploadedFile("sse-2027-holidays.txt", content, content_type="text/plain")


@pytest.fixture
def officers(make_user):
    return make_user(Role.COMPLIANCE), make_user(Role.COMPLIANCE)


def test_a_year_is_known_only_after_a_second_person_approves_it(officers, client):
    maker, checker = officers
    # given the calendar known to the end of 2026
    assert calendar.known_years()[1] == 2026
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    login_verified(client, maker)
    # a proposal without the exchange's notice is refused (the form needs the file)
    no_file = client.post(
        URL, {"action": "propose", "year": "2027", "source": "SSE notice",
              "holidays": "2027-01-01 New Year\n"},
    )  # fmt: skip
    assert no_file.status_code == 400
    assert not CalendarYearProposal.objects.exists()
    # when the maker proposes 2027 with the notice
    response = client.post(
        URL,
        {"action": "propose", "year": "2027", "source": "SSE notice on 2027 holidays",
         "holidays": "2027-02-08 Spring Festival\n2027-01-01 New Year\n",
         "document": notice_file()},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    proposal = CalendarYearProposal.objects.get()
    assert proposal.status == "proposed" and proposal.proposed_by == maker
    assert proposal.document_name == "sse-2027-holidays.txt"
    assert proposal.document_sha256 == hashlib.sha256(NOTICE).hexdigest()
    assert bytes(proposal.document_content) == NOTICE
    assert proposal.holiday_lines == "2027-01-01 New Year\n2027-02-08 Spring Festival"
    # then nothing is known yet: a deadline into 2027 is still refused
    assert not CalendarYear.objects.filter(year=2027).exists()
    with pytest.raises(calendar.CalendarExhausted):
        calendar.add_trading_days(date(2026, 12, 30), 2)
    # the maker may not approve their own proposal (page, service, database)
    own = client.post(
        URL,
        {"action": "approve", "proposal": proposal.pk, "reason": ""},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert own.status_code == 400 and "four eyes" in own.content.decode()
    with pytest.raises(RuleViolation, match="four eyes"):
        services.calendar_year_decide(proposal=proposal, approve=True, reason="", actor=maker)
    with pytest.raises(IntegrityError), transaction.atomic():
        CalendarYearProposal.objects.filter(pk=proposal.pk).update(decided_by=maker)
    # a second proposal for the same year waits behind the first
    with pytest.raises(Exception, match="already waiting"):
        services.calendar_year_propose(
            year=2027, holiday_lines="2027-01-01", source="x", document_name="n.txt",
            document_content=b"x", actor=checker,
        )  # fmt: skip

    # when the checker reads the notice and approves
    login_verified(client, checker)
    document = client.get(f"/staff/compliance/calendar/proposals/{proposal.pk}/document/")
    assert document.status_code == 200 and document.content == NOTICE
    page = client.get(URL).content.decode()
    assert proposal.document_sha256 in page and "Approve" in page
    approved = client.post(URL, {"action": "approve", "proposal": proposal.pk, "reason": ""})
    assert approved.status_code == 302
    # then 2027 is known, with its holidays, the year linked to its proposal and its notice
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == ("approved", checker)
    year = CalendarYear.objects.get(year=2027)
    assert proposal.calendar_year == year
    assert year.history.first().history_user == checker
    assert proposal.document_sha256[:16] in year.source
    # 2026-12-30 (Wed) + 2 sessions: 12-31 (1), 2027-01-01 closed, weekend, 01-04 (2)
    assert calendar.add_trading_days(date(2026, 12, 30), 2) == date(2027, 1, 4)
    assert not calendar.is_trading_day(date(2027, 2, 8))
    # a decided proposal is not decided again
    with pytest.raises(Exception, match="already Approved"):
        services.calendar_year_decide(proposal=proposal, approve=False, reason="x", actor=checker)


def test_a_rejection_needs_a_reason_and_adds_nothing(officers):
    maker, checker = officers
    second_factor(maker), second_factor(checker)
    proposal = services.calendar_year_propose(
        year=2027, holiday_lines="2027-01-01 New Year\n", source="SSE notice",
        document_name="notice.pdf", document_content=b"%PDF-1.4 notice", actor=maker,
    )  # fmt: skip
    with pytest.raises(ValidationFailed, match="reason"):
        services.calendar_year_decide(proposal=proposal, approve=False, reason=" ", actor=checker)
    rejected = services.calendar_year_decide(
        proposal=proposal, approve=False, reason="Spring Festival missing", actor=checker
    )
    assert (rejected.status, rejected.reason) == ("rejected", "Spring Festival missing")
    assert not CalendarYear.objects.filter(year=2027).exists()
    # the year may be proposed again once the first proposal is decided
    services.calendar_year_propose(
        year=2027, holiday_lines="2027-01-01\n2027-02-08", source="SSE notice",
        document_name="notice.pdf", document_content=b"%PDF-1.4 notice", actor=maker,
    )  # fmt: skip


def test_bad_proposals_name_the_field(officers):
    maker, _checker = officers
    base = {"year": 2027, "holiday_lines": "2027-01-01 New Year", "source": "SSE notice",
            "document_name": "n.pdf", "document_content": b"%PDF", "actor": maker}  # fmt: skip
    cases = [
        ({"year": 2028}, "year: the calendar is known for"),
        ({"year": 2026}, "year: 2026 is already in the calendar"),
        ({"source": " "}, "source:"),
        ({"holiday_lines": "2028-01-01"}, "holidays: 2028-01-01 is not in 2027"),
        ({"holiday_lines": "New Year"}, "holidays: line 1 does not start with a YYYY-MM-DD"),
        ({"holiday_lines": "2027-01-01\n2027-01-01"}, "holidays: 2027-01-01 is listed twice"),
        ({"document_content": b""}, "document: attach the exchange's notice"),
    ]
    for override, message in cases:
        with pytest.raises(Exception) as error:
            services.calendar_year_propose(**{**base, **override})
        assert error.value.message.startswith(message), (override, error.value.message)
    assert not CalendarYearProposal.objects.exists()


def test_one_person_cannot_add_a_year_but_the_system_can(officers):
    maker, _checker = officers
    with pytest.raises(RuleViolation, match="four eyes"):
        services.calendar_year_add(year=2027, holidays=[], source="SSE notice", actor=maker)
    assert not CalendarYear.objects.filter(year=2027).exists()
    # seeds, migrations and the demo run as the system
    services.calendar_year_add(year=2027, holidays=[], source="seed", actor=None)
    assert calendar.known_years()[1] == 2027


def test_the_api_proposes_with_the_document_and_a_second_person_decides(officers, make_user):
    maker, checker = officers
    for officer in officers:
        second_factor(officer)
    api = APIClient()
    api.force_authenticate(maker)
    made = api.post(
        "/api/v1/compliance/calendar-proposals/",
        {"year": "2027", "source": "SSE notice", "holidays": "2027-01-01 New Year",
         "document": notice_file()},
        format="multipart",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    assert made.json()["document_sha256"] == hashlib.sha256(NOTICE).hexdigest()
    decision = f"/api/v1/compliance/calendar-proposals/{made.json()['id']}/decision/"
    own = api.post(decision, {"approve": True}, format="json")
    assert own.status_code == 422 and own.json()["code"] == "four_eyes"
    # operations may read the calendar but neither propose nor approve
    ops = make_user(Role.OPERATIONS)
    second_factor(ops)
    api.force_authenticate(ops)
    assert api.post(decision, {"approve": True}, format="json").status_code == 403
    api.force_authenticate(checker)
    done = api.post(decision, {"approve": True, "reason": "matches the notice"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "approved"
    assert calendar.known_years()[1] == 2027
