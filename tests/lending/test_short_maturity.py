"""Maturity of short positions (issue 22 item 4; DOMAIN.md "Maturity and extension"): the due
date set at the sale, overdue marking by the end of day's maturity step, and the extension by
four eyes (lending.shorts.maturity), through the services, the pages (both languages) and the
API.

The position: the investor of short_account (deposit 50,000.00) sold short 1,000 SSE:600519 @
20.00 today (short_desk); the contract was signed today for 6 months. The tests move the due
date (a direct update in the setup) to leave room before the contract's end:
    due D = today + 10 days; an extension of 2 months runs from D: add_months(D, 2); one of 6
    months would pass the contract's end (today + 6 months) and stops there.
Ratio (50,000 + 20,000) / 20,000 = 350% > the 140% warning line; at 50.00 a share it is
70,000 / 50,000 = 140%, not above it (the extension is refused).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts.errors import Conflict, PermissionDenied, RuleViolation, ValidationFailed
from compliance import calendar
from compliance import selectors as compliance_selectors
from lending.shorts import maturity
from lending.shorts.maturity import LAPSED
from lending.shorts.models import ShortPosition, ShortPositionExtension
from tests.lending.book_fixtures import price_set
from tests.second_factor import login_verified, second_factor
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def position(short_desk, short_account):
    account = short_account(deposit="50000")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    return ShortPosition.objects.select_related("contract").get(credit_account=account)


def _due(position, due):
    ShortPosition.objects.filter(pk=position.pk).update(due_on=due)
    position.refresh_from_db()
    return position


def _today():
    return compliance_selectors.today()


def _ask(position, months=2, **kwargs):
    kwargs.setdefault("actor", position.credit_account.investor.user)
    return maturity.short_extension_request(
        position=position, months=months, reason="cover expected in spring", **kwargs
    )


def test_the_due_date_is_six_months_after_the_sale_never_after_the_contract(position):
    contract = position.contract
    assert position.opened_on == _today()
    assert position.due_on == min(calendar.add_months(position.opened_on, 6), contract.ends_on)
    assert position.overdue_since is None


def test_overdue_from_the_day_after_the_due_date_once_and_a_pending_request_lapses(position):
    due = _today() + timedelta(days=5)
    _due(position, due)
    extension = _ask(position, months=1, on=due)  # on the due date: still allowed
    assert extension.status == "requested"
    assert maturity.short_positions_mark_overdue(on=due) == []  # due today: not yet overdue
    marked = maturity.short_positions_mark_overdue(on=due + timedelta(days=3))
    assert marked == [position.pk]
    position.refresh_from_db()
    assert position.overdue_since == due + timedelta(days=1)  # whenever the run is made
    assert position.status == "open"  # still owed
    assert position.history.first().history_change_reason.endswith(
        f"overdue: due on {due.isoformat()}, 1,000 shares owed"
    )
    extension.refresh_from_db()
    assert (extension.status, extension.decision_reason) == ("rejected", LAPSED)
    assert extension.decided_by is None
    # idempotent: a second run marks nothing and changes no date
    assert maturity.short_positions_mark_overdue(on=due + timedelta(days=4)) == []
    position.refresh_from_db()
    assert position.overdue_since == due + timedelta(days=1)
    # past its due date no extension is asked
    with pytest.raises(RuleViolation) as refused:
        _ask(position, on=due + timedelta(days=4))
    assert refused.value.code == "past_due_date" and refused.value.extra["field"] == "position"


def test_the_end_of_day_maturity_step_marks_short_positions(position):
    from reports.eod import steps

    due = _today() - timedelta(days=1)
    _due(position, due)
    result = steps.BY_NAME["maturity"].shard(_today(), {}, 0, 1)
    assert result["short_positions_overdue"] == 1
    position.refresh_from_db()
    assert position.overdue_since == _today()
    assert steps.BY_NAME["maturity"].shard(_today(), {}, 0, 1)["short_positions_overdue"] == 0


def test_an_extension_by_four_eyes_moves_the_due_date_from_the_old_one(position, staff):
    due = _today() + timedelta(days=10)
    _due(position, due)
    extension = _ask(position, months=2)
    assert (extension.old_due_on, extension.new_due_on) == (due, calendar.add_months(due, 2))
    with pytest.raises(Conflict):  # one request under review per position
        _ask(position, months=1)
    extension = maturity.short_extension_prepare(
        extension=extension, actor=staff["ops"], note="ratio 350%, C4, no call"
    )
    assert extension.status == "prepared" and extension.prepared_by == staff["ops"]
    with pytest.raises(PermissionDenied):  # operations do not approve
        maturity.short_extension_approve(extension=extension, actor=staff["ops"], reason="mine")
    extension = maturity.short_extension_approve(
        extension=extension, actor=staff["risk"], reason="qualifies"
    )
    assert extension.status == "approved" and extension.decided_by == staff["risk"]
    position.refresh_from_db()
    assert position.due_on == calendar.add_months(due, 2)
    assert position.history.first().history_change_reason.startswith(
        f"extended 2 months to {calendar.add_months(due, 2).isoformat()}"
    )
    # no cap on their number; an extension stops at the contract's end
    contract_end = position.contract.ends_on
    second = _ask(position, months=6)
    assert second.new_due_on == contract_end < calendar.add_months(position.due_on, 6)
    second = maturity.short_extension_prepare(extension=second, actor=staff["ops2"], note="ok")
    maturity.short_extension_approve(extension=second, actor=staff["risk2"], reason="ok")
    position.refresh_from_db()
    assert position.due_on == contract_end
    # at the contract's end: nothing more to extend until the contract is renewed
    with pytest.raises(RuleViolation) as refused:
        _ask(position, months=1)
    assert refused.value.code == "contract_ends_first"


def test_the_checker_may_not_decide(position, staff):
    both = staff["ops"]
    both.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="lending", codename="approve_shortpositionextension"
        )
    )
    both = type(both).objects.get(pk=both.pk)  # permissions read again
    second_factor(both)
    _due(position, _today() + timedelta(days=10))
    extension = maturity.short_extension_prepare(
        extension=_ask(position), actor=both, note="checked"
    )
    with pytest.raises(RuleViolation) as refused:
        maturity.short_extension_approve(extension=extension, actor=both, reason="mine")
    assert refused.value.code == "four_eyes"
    with pytest.raises(RuleViolation):
        maturity.short_extension_reject(extension=extension, actor=both, reason="mine")
    # and the database keeps them apart whoever writes the row
    with pytest.raises(IntegrityError), transaction.atomic():
        ShortPositionExtension.objects.filter(pk=extension.pk).update(
            status="approved", decided_by=both
        )
    rejected = maturity.short_extension_reject(
        extension=extension, actor=staff["risk"], reason="cover first"
    )
    assert rejected.status == "rejected"
    position.refresh_from_db()
    assert position.due_on == _today() + timedelta(days=10)  # unchanged


def test_requests_are_refused_with_the_rule_they_break(position, staff, make_investor, short_desk):
    _due(position, _today() + timedelta(days=10))
    with pytest.raises(ValidationFailed, match="months: an extension runs 1 to 6 months"):
        _ask(position, months=7)
    with pytest.raises(ValidationFailed, match="months: whole months"):
        _ask(position, months="two")
    with pytest.raises(PermissionDenied):  # another investor
        _ask(position, actor=make_investor().user)
    with pytest.raises(PermissionDenied):  # staff without the request permission
        _ask(position, actor=staff["compliance"])
    with pytest.raises(ValidationFailed, match="reason"):  # staff record a written instruction
        maturity.short_extension_request(
            position=position, months=1, actor=staff["risk"], reason=""
        )
    # the ratio at or below the warning line: 70,000 / (1,000 x 50.00) = 140%
    price_set(short_desk, "50.00")
    with pytest.raises(RuleViolation) as refused:
        _ask(position)
    assert refused.value.code == "extension_not_qualified"
    assert [r["code"] for r in refused.value.extra["reasons"]] == ["ratio_at_or_below_warning"]
    assert not ShortPositionExtension.objects.exists()


def test_the_pages_in_both_languages(position, staff, client, make_investor):
    due = _today() + timedelta(days=10)
    _due(position, due)
    url = f"/portal/lending/shorts/positions/{position.pk}/extend/"
    client.force_login(position.credit_account.investor.user)
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 200
    page = english.content.decode()
    assert "Extend a short position" in page and due.isoformat() in page and "1,000" in page
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "到期日" in chinese and due.isoformat() in chinese
    # a bad months value is shown on the form; a good one makes the request
    assert client.post(url, {"months": "0", "reason": ""}).status_code == 400
    refused = client.post(url, {"months": "7", "reason": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 400 and "months: an extension runs 1 to 6" in (
        refused.content.decode()
    )
    made = client.post(url, {"months": "2", "reason": "spring"})
    assert made.status_code == 302
    extension = ShortPositionExtension.objects.get()
    assert (extension.status, extension.new_due_on) == ("requested", calendar.add_months(due, 2))
    assert "Extension request #" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # another investor's position: 404
    client.force_login(make_investor().user)
    assert client.get(url).status_code == 404

    # the staff list and the request's page, both languages; check, then approve by another
    staff_url = "/staff/lending/shorts/extensions/"
    detail = f"{staff_url}{extension.pk}/"
    login_verified(client, staff["ops"])
    listed = client.get(staff_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Short position extensions" in listed and f"#{position.pk} SSE:600519" in listed
    chinese = client.get(staff_url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.status_code == 200 and "展期申请" in chinese.content.decode()
    assert client.get(detail, HTTP_ACCEPT_LANGUAGE="zh-hans").status_code == 200
    assert client.post(detail, {"action": "approve", "reason": "x"}).status_code == 403
    assert client.post(detail, {"action": "prepare", "reason": "ratio ok"}).status_code == 302
    login_verified(client, staff["risk"])
    assert client.post(detail, {"action": "approve", "reason": "qualifies"}).status_code == 302
    position.refresh_from_db()
    assert position.due_on == calendar.add_months(due, 2)
    page = client.get(detail, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "checked: ratio ok" in page and "approved: qualifies" in page
    login_verified(client, staff["compliance"])  # may read, not decide
    assert client.get(detail).status_code == 200
    assert client.post(detail, {"action": "reject", "reason": "x"}).status_code == 403


def test_the_api(position, staff, make_investor):
    due = _today() + timedelta(days=10)
    _due(position, due)
    investor = APIClient()
    investor.force_authenticate(position.credit_account.investor.user)
    url = f"/api/v1/shorts/positions/{position.pk}/extensions/"
    for body in ([1, 2], "months", 5):  # not a JSON object: 400, never 500
        assert investor.post(url, body, format="json").status_code == 400
    assert investor.post(url, {"months": 9}, format="json").status_code == 400
    made = investor.post(url, {"months": 2, "reason": "spring"}, format="json")
    assert made.status_code == 201, made.content
    data = made.json()
    assert (data["status"], data["old_due_on"], data["new_due_on"]) == (
        "requested",
        due.isoformat(),
        calendar.add_months(due, 2).isoformat(),
    )
    assert (data["instrument"], data["quantity_owed"]) == ("SSE:600519", "1000")
    assert investor.post(url, {"months": 1}, format="json").status_code == 409
    assert [e["id"] for e in investor.get(url).json()] == [data["id"]]
    assert [e["id"] for e in investor.get("/api/v1/shorts/extensions/").json()] == [data["id"]]
    # another investor: the position is not theirs (404), their list is empty
    other = APIClient()
    other.force_authenticate(make_investor().user)
    assert other.post(url, {"months": 1}, format="json").status_code == 404
    assert other.get("/api/v1/shorts/extensions/").json() == []
    # staff: permission first (403 before the body is read), then the body (400)
    prepare = f"/api/v1/shorts/extensions/{data['id']}/prepare/"
    approve = f"/api/v1/shorts/extensions/{data['id']}/approve/"
    reject = f"/api/v1/shorts/extensions/{data['id']}/reject/"
    api = APIClient()
    api.force_authenticate(staff["risk"])
    assert api.post(prepare, [1], format="json").status_code == 403
    assert investor.post(approve, {"reason": "mine"}, format="json").status_code == 403
    api.force_authenticate(staff["ops"])
    assert api.post(prepare, [1], format="json").status_code == 400
    assert api.post(prepare, {}, format="json").status_code == 400
    assert api.post(approve, {"reason": "x"}, format="json").status_code == 403
    prepared = api.post(prepare, {"note": "ratio ok"}, format="json")
    assert prepared.status_code == 200 and prepared.json()["prepared_by"] == staff["ops"].email
    listed = api.get("/api/v1/shorts/extensions/?status=prepared")
    assert [e["id"] for e in listed.json()] == [data["id"]]
    assert api.get("/api/v1/shorts/extensions/?status=nonsense").status_code == 400
    api.force_authenticate(staff["risk"])
    assert api.post(approve, "yes", format="json").status_code == 400
    approved = api.post(approve, {"reason": "qualifies"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert api.post(reject, {"reason": "late"}, format="json").status_code == 409
    position.refresh_from_db()
    assert position.due_on == calendar.add_months(due, 2)
    # a rejection
    again = investor.post(url, {"months": 1}, format="json").json()
    rejected = api.post(
        f"/api/v1/shorts/extensions/{again['id']}/reject/", {"reason": "cover"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    auditor = APIClient()
    auditor.force_authenticate(staff["auditor"])
    assert len(auditor.get("/api/v1/shorts/extensions/").json()) == 2
