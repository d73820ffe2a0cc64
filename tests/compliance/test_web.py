"""Portal pages and API for suitability and disclosure, in both languages."""

import pytest

from accounts.roles import Role
from compliance import selectors
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


def test_investor_takes_the_test_in_the_portal_and_sees_the_result(
    client, make_investor, questionnaire
):
    from tests.compliance.fixtures import answers_for

    investor = make_investor()
    client.force_login(investor.user)
    page = client.get("/portal/compliance/questionnaire/")
    assert page.status_code == 200 and "How much of a loss" in page.content.decode()
    data = {f"q{q}": o for q, o in answers_for(questionnaire, 4).items()}
    response = client.post("/portal/compliance/questionnaire/", data)
    assert response.status_code == 302
    assessment = selectors.latest_assessment(investor)
    assert assessment.risk_class == 4
    detail = client.get(response["Location"]).content.decode()
    assert "C4" in detail and "Years of investing experience?" in detail


def test_portal_overview_in_chinese_and_english(client, make_investor, disclosure):
    from django.utils import translation

    with translation.override("zh-hans"):
        if translation.gettext("Risk tolerance assessment") == "Risk tolerance assessment":
            pytest.skip(
                "Chinese catalogue not rebuilt from locale/zh_Hans/glossary/compliance.json "
                "(run tools/i18n_sync.py, then make messages)"
            )
    investor = make_investor()
    client.force_login(investor.user)
    client.cookies["django_language"] = "en"
    english = client.get("/portal/compliance/").content.decode()
    assert "Risk tolerance assessment" in english
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get("/portal/compliance/").content.decode()
    assert "风险承受能力评估" in chinese


def test_disclosure_page_records_ip_and_user_agent(client, make_investor, disclosure):
    investor = make_investor()
    client.force_login(investor.user)
    assert (
        "Margin financing magnifies losses"
        in client.get("/portal/compliance/disclosure/").content.decode()
    )
    client.post(
        "/portal/compliance/disclosure/",
        {"document": disclosure.pk},
        HTTP_USER_AGENT="TestBrowser/1.0",
        REMOTE_ADDR="192.0.2.10",
    )
    ack = investor.acknowledgements.get()
    assert (ack.ip_address, ack.user_agent, ack.version) == ("192.0.2.10", "TestBrowser/1.0", 1)


def test_warning_confirmation_through_the_portal(client, make_investor, assess):
    investor = make_investor()
    assess(investor, 3)
    client.force_login(investor.user)
    client.post("/portal/compliance/suitability/", {"action": "check"})
    page = client.get("/portal/compliance/").content.decode()
    assert "Warning: your risk tolerance class is C3" in page or "C3" in page
    client.post("/portal/compliance/suitability/", {"action": "confirm"}, REMOTE_ADDR="192.0.2.1")
    match = selectors.current_match(investor, selectors.margin_product())
    assert match.confirmed_at and match.confirmed_ip == "192.0.2.1"


def test_api_assessment_flow_and_other_investors_get_404(client, make_investor, questionnaire):
    from tests.compliance.fixtures import answers_for

    alice, bob = make_investor(), make_investor()
    client.force_login(alice.user)
    q = client.get("/api/v1/compliance/questionnaire/").json()
    assert q["version"] == 1 and len(q["questions"]) == 3
    answers = [{"question": k, "option": v} for k, v in answers_for(questionnaire, 5).items()]
    created = client.post(
        "/api/v1/compliance/assessments/", {"answers": answers}, content_type="application/json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["risk_class"] == "C5"
    pk = created.json()["id"]
    assert client.get(f"/api/v1/compliance/assessments/{pk}/").status_code == 200
    client.force_login(bob.user)
    missing = client.get(f"/api/v1/compliance/assessments/{pk}/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert client.get("/api/v1/compliance/assessments/").json()["count"] == 0
    bad = client.post(
        "/api/v1/compliance/assessments/", {"answers": []}, content_type="application/json"
    )
    assert bad.status_code == 400 and "answers" in bad.json()["message"]


def test_api_acknowledge_and_status(client, make_investor, assess, disclosure):
    investor = make_investor()
    assess(investor, 4)
    client.force_login(investor.user)
    status = client.get("/api/v1/compliance/status/").json()
    assert status["may_draw_down"] is False
    assert status["drawdown_blockers"][0]["code"] == "disclosure_unacknowledged"
    current = client.get("/api/v1/compliance/disclosures/current/").json()
    assert current["sha256"] == disclosure.sha256
    ack = client.post(
        "/api/v1/compliance/acknowledgements/",
        {"document": current["id"]},
        content_type="application/json",
    )
    assert ack.status_code == 201 and ack.json()["version"] == 1
    assert client.get("/api/v1/compliance/status/").json()["may_draw_down"] is True


def test_staff_import_daily_assets_by_api_and_csv(client, make_investor, make_user):
    investor = make_investor()
    ops = make_user(Role.OPERATIONS)
    login_verified(client, ops)
    # operations has view but not add on compliance: refused
    body = {"investor": investor.pk, "figures": [{"date": "2026-03-06", "total_assets": "1.00"}]}
    assert (
        client.post(
            "/api/v1/compliance/daily-assets/", body, content_type="application/json"
        ).status_code
        == 403
    )
    officer = make_user(Role.COMPLIANCE)
    login_verified(client, officer)
    response = client.post(
        "/api/v1/compliance/daily-assets/", body, content_type="application/json"
    )
    assert response.json() == {"imported": 1}
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "assets.csv",
        f"email,date,total_assets\n{investor.user.email},2026-03-05,900000\n".encode(),
    )
    page = client.post("/staff/compliance/daily-assets/", {"file": upload})
    assert page.status_code == 302
    assert investor.daily_assets.count() == 2


def test_professional_request_and_staff_decision(client, make_investor, make_user):
    investor = make_investor()
    client.force_login(investor.user)
    response = client.post(
        "/portal/compliance/professional/",
        {
            "financial_assets": "3500000",
            "average_income_3y": "0",
            "experience_years": "2",
            "confirm_warning": "on",
        },
    )
    assert response.status_code == 302
    officer = make_user(Role.COMPLIANCE)
    login_verified(client, officer)
    request = investor.professional_requests.get()
    assert (
        investor.real_name
        in client.get("/staff/compliance/professional-requests/").content.decode()
    )
    client.post(
        f"/staff/compliance/professional-requests/{request.pk}/decide/",
        {"decision": "approve", "reason": "statements verified"},
    )
    investor.refresh_from_db()
    assert investor.category == "professional"
