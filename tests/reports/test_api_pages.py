"""API endpoints, staff pages and the portal's statement downloads."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from accounts.errors import PermissionDenied
from accounts.roles import Role
from reports import render, services, statements
from reports.models import FilingStatus, StatementStatus
from tests.compliance.fixtures import login_verified

from .conftest import numbers, pdf_text

pytestmark = pytest.mark.django_db


def test_api_request_retrieve_download(
    client, officers, make_investor, make_user, django_capture_on_commit_callbacks
):
    preparer, checker = officers
    make_investor()
    login_verified(client, preparer)
    as_of = timezone.now().isoformat()
    # when a compliance officer requests a filing
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/api/v1/filings/", {"kind": "investor_register", "as_of": as_of}, "application/json"
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["progress"], body["downloads"]) == ("queued", 0, {})
    assert len(callbacks) == 1  # the generation task is sent on commit
    # the worker's step (run in-process here; tests/reports/test_worker.py runs a real worker)
    services.filing_generate(filing_id=body["id"])
    detail = client.get(f"/api/v1/filings/{body['id']}/").json()
    assert (detail["status"], detail["progress"]) == ("prepared", 100)
    assert client.get("/api/v1/filings/?status=prepared").json()["count"] == 1
    # downloads: the JSON file is exactly the hashed data
    data = client.get(f"/api/v1/filings/{body['id']}/download/json/")
    assert hashlib.sha256(b"".join(data.streaming_content)).hexdigest() == detail["data_sha256"]
    pdf = client.get(f"/api/v1/filings/{body['id']}/download/pdf/")
    assert pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    csv = client.get(f"/api/v1/filings/{body['id']}/download/csv/")
    assert b"data.totals.investors,1" in b"".join(csv.streaming_content)
    # four-eyes through the API: the preparer is refused, the other officer approves
    refused = client.post(
        f"/api/v1/filings/{body['id']}/approve/", {"reason": "mine"}, "application/json"
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "four_eyes")
    login_verified(client, checker)
    approved = client.post(
        f"/api/v1/filings/{body['id']}/approve/", {"reason": "checked"}, "application/json"
    )
    assert approved.json()["status"] == "approved"
    # bad input and pending kinds answer with the error shape
    future = (timezone.now() + timedelta(days=1)).isoformat()
    bad = client.post("/api/v1/filings/", {"kind": "kpi", "as_of": future}, "application/json")
    assert bad.status_code in (400, 422) and set(bad.json()) == {"code", "message", "extra"}
    kinds = {k["code"]: k for k in client.get("/api/v1/filing-kinds/").json()}
    assert kinds["investor_register"]["available"] and kinds["daily_business"]["available"]
    # an investor sees no filings and cannot request one
    investor = make_investor().user
    client.force_login(investor)
    assert client.get(f"/api/v1/filings/{body['id']}/").status_code == 404
    assert client.get("/api/v1/filings/").json()["count"] == 0
    assert (
        client.post(
            "/api/v1/filings/", {"kind": "investor_register", "as_of": as_of}, "application/json"
        ).status_code
        == 403
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_staff_pages_review_approve_submit(client, officers, make_investor, language):
    preparer, checker = officers
    make_investor()
    filing = services.filing_request(kind="investor_register", as_of=timezone.now(), actor=preparer)
    filing = services.filing_generate(filing_id=filing.pk)
    login_verified(client, checker)
    client.cookies["django_language"] = language
    listing = client.get("/staff/filings/", HTTP_ACCEPT_LANGUAGE=language)
    assert listing.status_code == 200 and f"/staff/filings/{filing.pk}/" in listing.text
    page = client.get(f"/staff/filings/{filing.pk}/", HTTP_ACCEPT_LANGUAGE=language)
    assert page.status_code == 200 and filing.data_sha256 in page.text
    with translation.override(language):
        assert str(FilingStatus.PREPARED.label) in page.text
    client.post(f"/staff/filings/{filing.pk}/", {"action": "approve", "reason": "checked"})
    client.post(
        f"/staff/filings/{filing.pk}/",
        {"action": "submit", "reason": "sent", "submission_reference": "R-1"},
    )
    filing.refresh_from_db()
    assert (filing.status, filing.submission_reference) == ("submitted", "R-1")
    assert client.get(f"/staff/filings/{filing.pk}/download/pdf/").status_code == 200


def test_investors_are_kept_out_of_staff_pages(client, make_investor):
    client.force_login(make_investor().user)
    assert client.get("/staff/filings/").status_code in (302, 403)


def _last_month():
    first = timezone.localdate().replace(day=1)
    previous = first - timedelta(days=1)
    return previous.year, previous.month


def _onboarded_last_month(profile):
    # test setup: pretend the profile (and its history) dates from early last month
    from accounts.models import InvestorProfile
    from tests.support.history import record_as_of

    year, month = _last_month()
    when = timezone.make_aware(timezone.datetime(year, month, 2, 10, 0))
    InvestorProfile.objects.filter(pk=profile.pk).update(created_at=when)
    # history rows are append-only: add one dated then (tests/support/history.py)
    return record_as_of(profile, when)


def test_investor_downloads_only_their_own_statement(client, make_investor, make_user):
    newcomer = make_investor()
    year, month = _last_month()
    with pytest.raises(Exception) as too_early:
        services.statement_request(investor=newcomer, year=year, month=month, actor=None)
    assert too_early.value.code == "not_a_client_then"
    mine, other = _onboarded_last_month(make_investor()), make_investor()
    statement = services.statement_request(
        investor=mine, year=year, month=month, actor=make_user(Role.COMPLIANCE)
    )
    statement = services.statement_generate(statement_id=statement.pk)
    assert statement.status == StatementStatus.READY, statement.error
    client.force_login(mine.user)
    assert f"/portal/statements/{statement.pk}/pdf/" in client.get("/portal/statements/").text
    response = client.get(f"/portal/statements/{statement.pk}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    client.force_login(other.user)
    assert client.get(f"/portal/statements/{statement.pk}/pdf/").status_code == 404
    # a month that is not over is refused
    today = timezone.localdate()
    with pytest.raises(Exception) as refused:
        services.statement_request(investor=mine, year=today.year, month=today.month, actor=None)
    assert refused.value.code == "period_not_over"


def test_statement_without_credit_account_shows_the_ledger_figures(make_investor, tmp_path):
    from custody import selectors as custody
    from custody.services.client import client_deposit_post

    investor = make_investor(bank_account="6217000000000000333")
    client_deposit_post(
        investor=investor,
        amount="88888.88",
        currency="CNY",
        bank_account="6217000000000000333",
        reference="t",
        actor=None,
        idempotency_key="st-1",
    )
    # the current month, built directly (the service only issues finished months)
    start, end = statements.period_for(timezone.localdate().year, timezone.localdate().month)
    snapshot = statements.build_statement(
        investor_id=investor.pk, period_start=start, period_end=end
    )
    html = render.statement_html(snapshot=snapshot, data_sha256="0" * 64, language="en")
    path = tmp_path / "s.pdf"
    path.write_bytes(render.pdf_bytes(html))
    text = pdf_text(path)
    cash = custody.client_position(investor=investor).cash["CNY"]
    cny = next(line for line in text.splitlines() if line.strip().startswith("CNY"))
    assert numbers(cny) == [f"{cash:.2f}"]
    assert snapshot["data"]["credit"] is None and snapshot["data"]["financings"] is None
    assert "You had no credit account at the end of this period." in text
    assert investor.real_name in pdf_text(path, layout=False)


def test_an_officer_without_a_confirmed_second_factor_cannot_approve_or_submit(
    client, officers, make_investor, make_user
):
    preparer, checker = officers
    make_investor()
    filing = services.filing_request(kind="investor_register", as_of=timezone.now(), actor=preparer)
    filing = services.filing_generate(filing_id=filing.pk)
    unverified = make_user(Role.COMPLIANCE)  # the role allows it; no authenticator confirmed
    with pytest.raises(PermissionDenied) as refused:
        services.filing_approve(filing=filing, actor=unverified, reason="checked")
    assert refused.value.code == "second_factor_required"
    client.force_login(unverified)  # signed in with the password only
    api = client.post(f"/api/v1/filings/{filing.pk}/approve/", {"reason": "x"}, "application/json")
    assert (api.status_code, api.json()["code"]) == (403, "second_factor_required")
    page = client.post(f"/staff/filings/{filing.pk}/", {"action": "approve", "reason": "x"})
    # refused before the view runs: sent to enrol an authenticator, then back to the filing
    assert page.status_code == 303
    assert page["Location"] == f"/accounts/2fa/setup/?next=%2Fstaff%2Ffilings%2F{filing.pk}%2F"
    filing.refresh_from_db()
    assert filing.status == FilingStatus.PREPARED and filing.approved_by is None
    # the same officer, once signed in with the code, approves; submitting needs it too
    approved = services.filing_approve(filing=filing, actor=checker, reason="checked")
    with pytest.raises(PermissionDenied, match="second factor"):
        services.filing_submit(filing=approved, actor=unverified, reason="sent")
