"""Risk analytics API and staff pages: only the risk role starts runs (403 otherwise), list
and detail with results as decimal strings, the reserve target beside the reserve fund on the
staff pages, charts inline."""

from decimal import Decimal

import pytest
from django.urls import reverse

from custody import selectors as custody_selectors
from custody import services as custody_services
from lending.models import RiskRun
from lending.risk import services as risk
from tests.compliance.fixtures import login_verified
from tests.lending.test_risk_services import MARKET_ONLY

pytestmark = pytest.mark.django_db


def api(name, *args):
    return reverse(f"v1:lending-{name}", args=args)


def test_api_start_is_for_the_risk_role_and_results_are_decimal_strings(
    five_x, staff, client, django_capture_on_commit_callbacks
):
    body = {
        "kind": "stress",
        "reason": "api check",
        "parameters": {"scenarios": MARKET_ONLY, "history": ""},
    }
    for role in ("ops", "compliance", "auditor"):
        login_verified(client, staff[role])
        response = client.post(api("risk-run-list"), body, "application/json")
        assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    client.force_login(five_x.investor.user)
    assert client.post(api("risk-run-list"), body, "application/json").status_code == 403
    assert client.get(api("risk-run-list")).status_code == 403
    assert RiskRun.objects.count() == 0

    login_verified(client, staff["risk"])
    bad = client.post(
        api("risk-run-list"), {**body, "parameters": {"top_n": "x"}}, "application/json"
    )
    assert bad.status_code == 400 and bad.json()["extra"] == {"field": "top_n"}
    bad = client.post(api("risk-run-list"), {**body, "kind": "guess"}, "application/json")
    assert bad.status_code == 400 and bad.json()["extra"] == {"field": "kind"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(api("risk-run-list"), {**body, "seed": 7}, "application/json")
    assert response.status_code == 202
    started = response.json()
    assert started["status"] == "pending" and started["seed"] == 7
    assert started["started_by"] == staff["risk"].email and len(callbacks) == 1  # the task
    risk.risk_run_execute(run_id=started["id"])  # what the Celery task does

    login_verified(client, staff["auditor"])  # read-only roles see runs
    listed = client.get(api("risk-run-list"), {"kind": "stress"}).json()["results"]
    assert [r["id"] for r in listed] == [started["id"]] and "results" not in listed[0]
    assert client.get(api("risk-run-list"), {"kind": "monte_carlo"}).json()["results"] == []
    detail = client.get(api("risk-run-detail", started["id"])).json()
    assert detail["status"] == "succeeded" and detail["total_shortfall"] == "37500.00"
    assert detail["reserve_target"] == "37500.00" and detail["reserve_balance"] == "0.00"
    assert detail["results"]["scenarios"][0]["accounts"][0]["equity"] == "0.00"
    assert client.get(api("risk-run-detail", 999999)).status_code == 404


def test_the_staff_pages_show_the_target_beside_the_reserve_fund(five_x, staff, client):
    custody_services.reserve_fund_contribute(
        amount=Decimal("12345.67"),
        currency="CNY",
        actor=None,
        reason="test",
        idempotency_key="reserve-risk-web-1",
    )
    stress = risk.risk_run_execute(
        run_id=risk.risk_run_start(
            kind="stress", actor=staff["risk"], reason="weekly", parameters={"history": ""}
        ).pk
    )
    mc = risk.risk_run_execute(
        run_id=risk.risk_run_start(
            kind="monte_carlo", actor=staff["risk"], reason="weekly", seed=3,
            parameters={"n_paths": 200, "horizon_days": 3, "performance_accounts": 0},
        ).pk
    )  # fmt: skip
    assert custody_selectors.reserve_adequacy(currency="CNY").target is None  # proposed only
    risk.risk_run_target_adopt(run=mc, actor=staff["risk2"], reason="reviewed")  # four eyes
    target = custody_selectors.reserve_adequacy(currency="CNY").target
    assert target == mc.reserve_target == mc.expected_loss + stress.stressed_loss

    login_verified(client, staff["compliance"])  # sees the page, may not start a run
    page = client.get(reverse("staff:lending-risk-runs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<dd id="reserve-balance">12,345.67</dd>' in html
    assert f'<dd id="reserve-target">{target:,.2f}</dd>' in html
    assert 'name="reason"' not in html
    # ... and a forged start is refused up front (lending.run_riskrun), nothing queued
    response = client.post(reverse("staff:lending-risk-runs"), {"kind": "stress", "reason": "x"})
    assert response.status_code == 403 and RiskRun.objects.count() == 2

    detail = client.get(reverse("staff:lending-risk-run-detail", args=[stress.pk])).content
    detail = detail.decode()
    assert (
        detail.count("<svg") == 2 and "市场下跌 20%" in detail
    )  # the scenario in the reader's language
    assert five_x.account_number in detail and '<dd id="reserve-target">' in detail
    detail = client.get(reverse("staff:lending-risk-run-detail", args=[mc.pk])).content.decode()
    assert (
        detail.count("<svg") == 2 and f'<dd id="run-target">{mc.reserve_target:,.2f}</dd>' in detail
    )
    compare = client.get(reverse("staff:lending-risk-compare"), {"run": [stress.pk, mc.pk]})
    assert compare.status_code == 200 and compare.content.decode().count("<svg") == 1

    login_verified(client, staff["risk"])
    page = client.post(
        reverse("staff:lending-risk-runs"),
        {"kind": "monte_carlo", "reason": "after the close", "n_paths": "300", "seed": "5"},
    )
    run = RiskRun.objects.latest("pk")
    assert page.status_code == 302 and run.parameters["n_paths"] == 300 and run.seed == 5
    assert run.started_by == staff["risk"] and run.reason == "after the close"


def test_admin_lists_runs_read_only(five_x, staff, admin_client):
    run = risk.risk_run_start(kind="stress", actor=staff["risk"], reason="admin", parameters={})
    assert admin_client.get(reverse("admin:lending_riskrun_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:lending_riskrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert (
        admin_client.get(reverse("admin:lending_riskrun_history", args=[run.pk])).status_code == 200
    )
