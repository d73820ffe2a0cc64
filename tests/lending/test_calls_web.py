"""Margin-call API and pages: visibility (404 for another investor's rows), role permissions
(403), approval only in a second-factor session, decimal strings, acknowledgement."""

import pytest
from django.urls import reverse

from lending.margin_calls import services as calls
from lending.models import LiquidationPlan, Notice, Order
from tests.compliance.fixtures import login_verified
from tests.lending.calls_fixtures import overdue_call, sh
from tests.support import market

pytestmark = pytest.mark.django_db


def api(name, *args):
    return reverse(f"v1:lending-{name}", args=args)


def test_api_calls_are_the_investors_own_with_a_status_filter(
    account, staff, client, make_credit_account
):
    call = overdue_call(account, staff)
    other = make_credit_account()
    client.force_login(other.investor.user)
    assert client.get(api("margin-call-list")).json()["results"] == []
    assert client.get(api("margin-call-detail", call.pk)).status_code == 404

    client.force_login(account.investor.user)
    body = client.get(api("margin-call-list"), {"status": "overdue"}).json()["results"]
    assert [c["id"] for c in body] == [call.pk]
    row = body[0]
    assert row["amount_to_cure"] == "32800.00" and row["ratio_at_issue"] == "1.265714"
    assert row["account"] == account.account_number and row["status"] == "overdue"
    assert row["deadline"].startswith("2026-10-09T15:00:00")
    assert client.get(api("margin-call-list"), {"status": "cured"}).json()["results"] == []
    bad = client.get(api("margin-call-list"), {"status": "nonsense"})
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    # an investor may not prepare a liquidation, even of their own call
    response = client.post(api("margin-call-plan-prepare", call.pk), {}, "application/json")
    assert response.status_code == 403


def test_api_liquidation_four_eyes_with_second_factor(account, staff, client):
    call = overdue_call(account, staff)
    login_verified(client, staff["risk"])
    response = client.post(
        api("margin-call-plan-prepare", call.pk),
        {"order_rule": "largest_mv_first"},
        "application/json",
    )
    assert response.status_code == 201, response.json()
    plan = response.json()
    # sized at the price the plan expects (48.00 less the 0.5% slippage = 47.76), not at the
    # lower limit 43.20: 32,800 / (1.5 x 47.76 - 48) = 1,387.5 -> 1,400 shares, 66,864.00
    assert plan["status"] == "prepared" and plan["expected_proceeds"] == "66864.00"
    assert plan["lines"][0]["limit_price"] == "47.7600"
    assert plan["lines"][0]["quantity"] == "1400.0000"
    decision = {"reason": "overdue since 9 October"}
    # the preparer cannot approve
    response = client.post(
        api("liquidation-plan-approve", plan["id"]), decision, "application/json"
    )
    assert response.status_code == 403 and response.json()["code"] == "four_eyes"
    # another officer without a verified session cannot either
    client.force_login(staff["risk2"])
    response = client.post(
        api("liquidation-plan-approve", plan["id"]), decision, "application/json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "second_factor_required"
    # signed in with the second factor, they can
    login_verified(client, staff["risk2"])
    response = client.post(
        api("liquidation-plan-approve", plan["id"]), decision, "application/json"
    )
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert response.json()["approved_by"] == staff["risk2"].email
    # execution places a liquidation order; the plan is executed when the exchange fills it
    response = client.post(api("liquidation-plan-execute", plan["id"]))
    assert response.status_code == 200 and response.json()["status"] == "executing"
    [sent] = response.json()["orders_sent"]
    market.fill(Order.objects.get(pk=sent["order"]))
    listed = client.get(api("liquidation-plan-list"), {"status": "executed"}).json()["results"]
    assert [p["id"] for p in listed] == [plan["id"]]


def test_investor_acknowledges_a_notice_in_the_portal(account, staff, client, make_credit_account):
    overdue_call(account, staff)
    notice = Notice.objects.filter(kind="call", channel="portal").get()
    other = make_credit_account()
    client.force_login(other.investor.user)
    ack = reverse("portal:lending-notice-acknowledge", args=[notice.pk])
    assert client.post(ack).status_code == 404
    assert client.post(api("margin-notice-acknowledge", notice.pk)).status_code == 404

    client.force_login(account.investor.user)
    page = client.get(reverse("portal:lending-margin-calls"))
    assert page.status_code == 200 and "32800.00" in page.content.decode()
    assert client.post(ack).status_code == 302
    notice.refresh_from_db()
    assert notice.acknowledged_at is not None
    assert notice.acknowledged_by == account.investor.user
    notices = client.get(api("margin-notice-list")).json()["results"]
    assert {n["kind"] for n in notices} == {"call", "overdue"}


def test_staff_pages_prepare_and_decide(account, staff, client):
    call = overdue_call(account, staff)
    login_verified(client, staff["risk"])
    page = client.get(reverse("staff:lending-margin-calls"))
    assert page.status_code == 200 and account.account_number in page.content.decode()
    detail = reverse("staff:lending-margin-call-detail", args=[call.pk])
    assert client.get(detail).status_code == 200
    response = client.post(detail, {"order_rule": "zero_haircut_first", "reason": ""})
    plan = LiquidationPlan.objects.get(call=call)
    assert response.status_code == 302
    plan_url = reverse("staff:lending-liquidation-detail", args=[plan.pk])
    page = client.get(plan_url).content.decode()
    assert "SSE:600519" in page and "47.76" in page  # 48.00 less 0.5% slippage
    # the preparer's page shows no decision form; a forged decision is refused
    response = client.post(plan_url, {"step": "decide", "decision": "approve", "reason": "x"})
    assert response.status_code == 400
    plan.refresh_from_db()
    assert plan.status == "prepared"
    login_verified(client, staff["risk2"])
    assert client.get(reverse("staff:lending-liquidation-queue")).status_code == 200
    response = client.post(plan_url, {"step": "decide", "decision": "approve", "reason": "ok"})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.status, plan.approved_by) == ("approved", staff["risk2"])
    client.post(plan_url, {"step": "execute"})
    plan.refresh_from_db()
    assert plan.status == "executing"
    order = Order.objects.get(purpose="liquidation")
    assert order.client_order_id in client.get(plan_url).content.decode()
    market.fill(order)
    plan.refresh_from_db()
    assert plan.status == "executed"
    # investors and staff without the permission do not reach the staff pages
    client.force_login(account.investor.user)
    assert client.get(reverse("staff:lending-margin-calls")).status_code in (302, 403)
    assert calls.calls_escalate_overdue(now=sh(2026, 10, 20, 16)) == []


def test_admin_shows_the_lifecycle_read_only(account, staff, client):
    call = overdue_call(account, staff)
    client.force_login(staff["auditor"])
    for model in ("margincall", "notice", "accountmarginstate", "liquidationplan", "defaultrecord"):
        assert client.get(f"/admin/lending/{model}/").status_code == 200, model
    assert client.get(f"/admin/lending/margincall/{call.pk}/change/").status_code == 200
    assert client.get(f"/admin/lending/margincall/{call.pk}/history/").status_code == 200
    assert client.get("/admin/lending/margincall/add/").status_code == 403
