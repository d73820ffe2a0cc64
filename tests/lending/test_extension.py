"""Extension (展期) of a financing (DOMAIN.md "Maturity and extension"): asked by the investor
before the due date, checked by operations, approved by a different person (four eyes) once
the investor is seen to qualify again; the new due date runs from the old one, at most 6 months
(dated), no cap on the number of extensions; history kept.

The financing of tests/lending/test_maturity.py: 10,000 SZSE:000001 @ 10.00 = 100,000.00,
opened 2026-06-01, due 2026-12-01; own collateral 2,000 SSE:600519 @ 100.00; no cash.
Ratio (200,000 + 100,000) / 100,000 = 300%, above the 140% warning line. The contract was signed
on the day the suite runs and ends 6 months later (after 2027-06-01)."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.errors import Conflict, PermissionDenied, RuleViolation, ValidationFailed
from lending.financing import maturity
from lending.financing.models import Financing, FinancingExtension
from lending.margin_calls import maturity as maturity_run
from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, PINGAN, sh
from tests.lending.test_maturity import financed_on

pytestmark = pytest.mark.django_db

D = Decimal
ASKED = date(2026, 11, 20)


@pytest.fixture
def financing(funded_account, book_instruments):
    account = funded_account(deposit="200000", own=((MOUTAI, 2000, "100.00"),), financed=())
    return financed_on(account, book_instruments[PINGAN], 10000, "10.00", date(2026, 6, 1))


def ask(financing, months=1, on=ASKED, **kwargs):
    kwargs.setdefault("actor", financing.credit_account.investor.user)
    return maturity.financing_extension_request(
        financing=financing, months=months, on=on, reason="cash expected in January", **kwargs
    )


def test_an_extension_approved_by_four_eyes_runs_from_the_due_date(financing, staff):
    assert financing.due_on == date(2026, 12, 1)
    # the investor asks before the due date: 1 month from the due date, not from today
    extension = ask(financing, months=1)
    assert (extension.status, extension.old_due_on, extension.new_due_on) == (
        "requested",
        date(2026, 12, 1),
        date(2027, 1, 1),
    )
    with pytest.raises(Conflict):  # one request under review per financing
        ask(financing, months=2)
    # operations check it; the checker cannot approve it (four eyes), nor can operations
    extension = maturity.financing_extension_prepare(
        extension=extension, actor=staff["ops"], note="ratio 300%, C4, no call"
    )
    assert extension.status == "prepared" and extension.prepared_by == staff["ops"]
    with pytest.raises(PermissionDenied):
        maturity.financing_extension_approve(
            extension=extension, actor=staff["ops"], reason="mine", on=ASKED
        )
    # a second person approves it: the financing is due a month later
    extension = maturity.financing_extension_approve(
        extension=extension, actor=staff["risk"], reason="qualifies", on=date(2026, 11, 25)
    )
    assert extension.status == "approved" and extension.decided_by == staff["risk"]
    assert extension.qualification["ratio"] == "3.000000"  # 300,000 / 100,000
    assert extension.qualification["warning_line"] == "1.400000"
    financing.refresh_from_db()
    assert financing.due_on == date(2027, 1, 1)
    assert financing.history.first().history_change_reason.startswith("extended 1 months")
    # so it is not overdue the day after its old due date
    assert (
        maturity_run.maturity_process(on=date(2026, 12, 2), now=sh(2026, 12, 2, 8, 40)).overdue
        == []
    )

    # no cap on the number of extensions: a second one, 2 months from the new due date
    second = ask(financing, months=2, on=date(2026, 12, 20))
    second = maturity.financing_extension_prepare(extension=second, actor=staff["ops"], note="ok")
    second = maturity.financing_extension_approve(
        extension=second, actor=staff["risk2"], reason="still qualifies", on=date(2026, 12, 21)
    )
    financing.refresh_from_db()
    assert (second.new_due_on, financing.due_on) == (date(2027, 3, 1), date(2027, 3, 1))
    # a third, of 6 months to 2027-09-01, would outlive the contract (signed the day the suite
    # runs, for 6 months: 2027-06-05 for a run on 2026-12-05): it may be asked (the contract
    # may be renewed meanwhile) but not approved before the contract is renewed
    third = maturity.financing_extension_prepare(
        extension=ask(financing, months=6, on=date(2027, 1, 4)), actor=staff["ops"], note="ok"
    )
    with pytest.raises(RuleViolation) as refused:
        maturity.financing_extension_approve(
            extension=third, actor=staff["risk"], reason="ok", on=date(2027, 1, 5)
        )
    assert [r["code"] for r in refused.value.extra["reasons"]] == ["contract_ends_first"]
    third = maturity.financing_extension_reject(
        extension=third, actor=staff["risk"], reason="renew the contract first"
    )
    assert third.status == "rejected" and third.decided_by == staff["risk"]
    # the history: every request with its decision
    assert list(
        FinancingExtension.objects.filter(financing=financing)
        .order_by("pk")
        .values_list("status", "old_due_on", "new_due_on")
    ) == [
        ("approved", date(2026, 12, 1), date(2027, 1, 1)),
        ("approved", date(2027, 1, 1), date(2027, 3, 1)),
        ("rejected", date(2027, 3, 1), date(2027, 9, 1)),
    ]
    financing.refresh_from_db()
    assert financing.due_on == date(2027, 3, 1)


def test_the_database_keeps_the_checker_and_the_approver_apart(financing, staff):
    extension = maturity.financing_extension_prepare(
        extension=ask(financing), actor=staff["ops"], note="checked"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        FinancingExtension.objects.filter(pk=extension.pk).update(
            status="approved", decided_by=staff["ops"]
        )
    # approved without a check is refused too
    with pytest.raises(IntegrityError), transaction.atomic():
        FinancingExtension.objects.filter(pk=extension.pk).update(
            status="approved", prepared_by=None, decided_by=staff["risk"]
        )


def test_requests_are_refused_with_the_rule_they_break(financing, staff, assess):
    investor = financing.credit_account.investor
    # more than the dated maximum
    with pytest.raises(ValidationFailed, match="months: an extension runs 1 to 6 months"):
        ask(financing, months=7)
    with pytest.raises(ValidationFailed, match="months: whole months"):
        ask(financing, months="two")
    # after the due date
    with pytest.raises(RuleViolation) as refused:
        ask(financing, on=date(2026, 12, 2))
    assert refused.value.code == "past_due_date"
    # another investor's financing
    other = staff["ops"]  # staff without the request permission: neither owner nor allowed
    with pytest.raises(PermissionDenied):
        ask(financing, actor=other)
    # the ratio at or below the warning line: 600519 at 20.00, 000001 at 10.00:
    # (40,000 + 100,000) / 100,000 = 140%, not above 140%
    price_set(MOUTAI, "20.00")
    with pytest.raises(RuleViolation) as refused:
        ask(financing)
    assert [r["code"] for r in refused.value.extra["reasons"]] == ["ratio_at_or_below_warning"]
    price_set(MOUTAI, "100.00")
    # below C4: a new suitability test giving C3 (the match for margin financing fails)
    assess(investor, 3)
    with pytest.raises(RuleViolation) as refused:
        ask(financing)
    assert refused.value.code == "extension_not_qualified"
    assert not FinancingExtension.objects.exists()


def test_an_open_margin_call_blocks_the_approval(financing, staff):
    from lending.margin_calls import services as calls

    extension = maturity.financing_extension_prepare(
        extension=ask(financing), actor=staff["ops"], note="ok"
    )
    # a price fall to a call: (2,000 x 39 + 10,000 x 5) / 100,000 = 128% < 130%
    price_set(MOUTAI, "39.00")
    price_set(PINGAN, "5.00")
    assert calls.account_revalue(credit_account=financing.credit_account).call is not None
    with pytest.raises(RuleViolation) as refused:
        maturity.financing_extension_approve(
            extension=extension, actor=staff["risk"], reason="ok", on=ASKED
        )
    codes = [r["code"] for r in refused.value.extra["reasons"]]
    assert "open_margin_call" in codes and "ratio_at_or_below_warning" in codes
    extension.refresh_from_db()
    assert extension.status == "prepared"
    assert Financing.objects.get(pk=financing.pk).due_on == date(2026, 12, 1)


def test_a_request_not_approved_by_the_due_date_lapses(financing, staff):
    extension = ask(financing)
    with pytest.raises(RuleViolation) as refused:  # approval after the due date
        maturity.financing_extension_approve(
            extension=maturity.financing_extension_prepare(
                extension=extension, actor=staff["ops"], note="late"
            ),
            actor=staff["risk"],
            reason="too late",
            on=date(2026, 12, 2),
        )
    assert refused.value.code == "past_due_date"
    maturity_run.maturity_process(on=date(2026, 12, 2), now=sh(2026, 12, 2, 8, 40))
    extension.refresh_from_db()
    assert extension.status == "rejected"
    assert extension.decision_reason == "lapsed: not approved by the due date"


def test_extension_doors_portal_staff_page_and_api(financing, staff, client):
    from tests.compliance.fixtures import login_verified

    investor = financing.credit_account.investor
    # the portal account page shows the due date and offers the extension
    client.force_login(investor.user)
    page = client.get("/portal/lending/account/")
    assert page.status_code == 200
    assert "2026-12-01" in page.content.decode()
    # the API: the investor asks (today, after the due date, it is refused with its rule)
    response = client.post(
        f"/api/v1/financings/{financing.pk}/extensions/",
        {"months": 1, "reason": "cash in January"},
        content_type="application/json",
    )
    assert response.status_code == 422 and response.json()["code"] == "past_due_date"
    # another investor gets 404
    # the staff page lists the overdue financing once the daily run marked it
    maturity_run.maturity_process(on=date(2026, 12, 2), now=sh(2026, 12, 2, 8, 40))
    client.logout()
    login_verified(client, staff["risk"])
    page = client.get("/staff/lending/maturities/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "2026-12-02" in body and "100,000.00" in body


def test_the_portal_form_asks_for_an_extension_of_a_financing_not_yet_due(
    funded_account, staff, client
):
    from tests.compliance.fixtures import login_verified

    # a financing opened today: due on the contract's end, 6 months from today
    account = funded_account(deposit="1000000")
    financing = account.financings.get()
    assert financing.due_on == financing.contract.ends_on
    client.force_login(account.investor.user)
    page = client.get("/portal/lending/account/").content.decode()
    assert 'action="/portal/lending/financings/extension/"' in page
    assert f'value="{financing.pk}"' in page and "申请展期" in page  # the investor's language
    response = client.post(
        "/portal/lending/financings/extension/",
        {"financing": financing.pk, "months": 2, "reason": "bonus in two months"},
    )
    assert response.status_code == 302
    extension = FinancingExtension.objects.get(financing=financing)
    assert extension.status == "requested" and extension.requested_by == account.investor.user
    # asked again: refused while the first is under review, nothing more written
    client.post(
        "/portal/lending/financings/extension/",
        {"financing": financing.pk, "months": 1, "reason": "again"},
    )
    assert FinancingExtension.objects.filter(financing=financing).count() == 1
    # operations check it on the staff page; the approval there must be another person's
    client.logout()
    login_verified(client, staff["ops"])
    client.post(
        "/staff/lending/maturities/",
        {"action": "prepare", "extension": extension.pk, "reason": "C4, ratio 433%"},
    )
    extension.refresh_from_db()
    assert extension.status == "prepared" and extension.prepared_by == staff["ops"]
    refused = client.post(
        "/staff/lending/maturities/",
        {"action": "approve", "extension": extension.pk, "reason": "mine"},
    )
    assert refused.status_code == 403  # operations do not hold the approval permission
    client.logout()
    login_verified(client, staff["risk"])
    page = client.get("/staff/lending/maturities/").content.decode()
    assert "bonus in two months" in page
    client.post(
        "/staff/lending/maturities/",
        {"action": "reject", "extension": extension.pk, "reason": "renew the contract first"},
    )
    extension.refresh_from_db()
    assert extension.status == "rejected" and extension.decided_by == staff["risk"]
