"""Rights issues (配股, lending.financing.rights): the holder is told on the ex-date with proof of
delivery, subscribes with own money up to the entitlement and until the subscription ends (one
ledger entry to the custodian), may withdraw before the end, and the custodian's outcome books
the shares or refunds the money. Fees are zero (funded_account).

The account: deposit 50,000.00; own 1,000 SZSE:000001 @ 20.00 (cash 30,000.00); financed 1,000
@ 20.00 (debt 20,000.00). Holding 2,000: assets 30,000 + 40,000 = 70,000.00, ratio 350%.
10配3 at 8.00: 2,000 x 0.3 = 600 rights shares; reference price (20.00 + 8.00 x 0.3) / 1.3 =
17.2307... -> 17.23; MV 2,000 x 17.23 = 34,460.00, assets 64,460.00, ratio 322.3%."""

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from compliance import calendar
from custody.models import JournalEntry, LedgerAccount
from custody.selectors import account_balance, trial_balance
from lending.financing import corporate_actions as ca
from lending.financing import rights
from lending.financing.models import CorporateAction, CorporateActionEntitlement
from lending.financing.valuation import account_view
from lending.margin_calls.models import Notice
from lending.models import CreditAccount
from tests.lending.book_fixtures import price_set
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

PINGAN = "SZSE:000001"
D = Decimal


def _view(account):
    return account_view(CreditAccount.objects.get(pk=account.pk))


def _balance(purpose, unit, investor=None):
    found = LedgerAccount.objects.filter(purpose=purpose, unit=unit, investor=investor).first()
    return D(0) if found is None else account_balance(account=found)


def _ex_date_passed(action):
    """The ex-date has come: its dates moved back by the days that passed."""
    today = timezone.localdate()
    CorporateAction.objects.filter(pk=action.pk).update(
        record_date=calendar.add_trading_days(today, -2),
        ex_date=calendar.add_trading_days(today, -1),
    )


@pytest.fixture
def issue(funded_account, book_instruments, staff):
    """(account, action, entitlement, ex-date, subscription end) after the ex-date ran."""
    price_set(PINGAN, "20.00")
    account = funded_account(
        deposit="50000", own=((PINGAN, 1000, "20.00"),), financed=((PINGAN, 1000, "20.00"),)
    )
    before = _view(account)
    assert before.total_assets == D("70000.00") and before.maintenance_ratio == D("3.5")
    ex = calendar.add_trading_days(timezone.localdate(), 1)
    record = calendar.add_trading_days(ex, -1)
    end = calendar.add_trading_days(ex, 5)
    action = ca.corporate_action_create(
        instrument=book_instruments[PINGAN], kind="rights", record_date=record, ex_date=ex,
        ratio="0.3", rights_price="8.00", subscription_end=end,
        source_reference="SZSE 2026-120 10配3", actor=staff["ops"], reason="announced",
    )  # fmt: skip
    ca.corporate_actions_process(on=ex)
    entitlement = CorporateActionEntitlement.objects.get(corporate_action=action)
    return account, CorporateAction.objects.get(pk=action.pk), entitlement, ex, end


def test_the_holder_is_told_with_proof_of_delivery_and_subscribes_with_own_cash(issue, client):
    account, action, entitlement, ex, end = issue
    investor = account.investor
    assert entitlement.rights_quantity == D("600")
    assert action.reference_price == D("17.23")
    after_ex = _view(account)
    assert after_ex.total_assets == D("64460.00")

    # the notice: portal (delivered when written) and e-mail, in both languages, once
    notices = Notice.objects.filter(kind="rights", entitlement=entitlement, stage=0)
    assert sorted(n.channel for n in notices) == ["email", "portal"]
    portal = notices.get(channel="portal")
    assert portal.delivered and portal.credit_account_id == account.pk
    assert "600" in portal.body and "8.00" in portal.body and end.isoformat() in portal.body
    assert "配股" in portal.body and "rights shares" in portal.body
    ca.notices_send(entitlement_ids=[entitlement.pk], stage=0)  # written once
    assert Notice.objects.filter(kind="rights", entitlement=entitlement).count() == 2

    # beyond the entitlement: refused, naming the field and what is left
    with pytest.raises(RuleViolation) as refused:
        rights.rights_subscribe(entitlement=entitlement, quantity="601", actor=investor.user,
                                idempotency_key="r-0", on=ex)  # fmt: skip
    assert refused.value.code == "beyond_entitlement" and refused.value.extra["allowed"] == "600"

    # 400 x 8.00 = 3,200.00 from the cash, into a receivable: the ratio does not move
    entries = JournalEntry.objects.count()
    first = rights.rights_subscribe(entitlement=entitlement, quantity="400", actor=investor.user,
                                    idempotency_key="r-1", on=ex)  # fmt: skip
    assert (first.amount, first.status) == (D("3200.00"), "subscribed")
    assert JournalEntry.objects.count() == entries + 1  # one ledger entry
    # a retry with the same key is the same subscription, not a second payment
    again = rights.rights_subscribe(entitlement=entitlement, quantity="400", actor=investor.user,
                                    idempotency_key="r-1", on=ex)  # fmt: skip
    assert again.pk == first.pk and JournalEntry.objects.count() == entries + 1
    view = _view(account)
    assert view.cash == D("26800.00") and view.entitlements_receivable == D("3200.00")
    assert view.total_assets == D("64460.00")
    assert view.maintenance_ratio == after_ex.maintenance_ratio
    assert _balance("custodian_entitlements", "CNY") == D("3200.00")
    assert trial_balance().balanced
    # 200 left: 300 more is refused
    with pytest.raises(RuleViolation, match="200"):
        rights.rights_subscribe(entitlement=entitlement, quantity="300", actor=investor.user,
                                idempotency_key="r-2", on=ex)  # fmt: skip

    # withdrawn before the end: the 3,200.00 comes back, the 600 are open again
    rights.rights_subscription_cancel(subscription=first, actor=investor.user, on=ex)
    view = _view(account)
    assert view.cash == D("30000.00") and view.entitlements_receivable == 0
    with pytest.raises(Conflict):
        rights.rights_subscription_cancel(subscription=first, actor=investor.user, on=ex)

    # the portal: the account page offers the 600, the form subscribes them once the ex-date
    # has come (the dates moved back by the days that passed)
    _ex_date_passed(action)
    client.force_login(investor.user)
    page = client.get("/portal/lending/account/").content.decode()
    assert f'id="rights-{entitlement.pk}"' in page and 'value="600"' in page
    response = client.post(
        "/portal/lending/rights/subscribe/",
        {"entitlement": entitlement.pk, "quantity": "600", "idempotency_key": "form-1"},
    )
    assert response.status_code == 302
    assert rights.subscribed_quantity(entitlement.pk) == D("600")
    view = _view(account)
    assert view.cash == D("25200.00") and view.entitlements_receivable == D("4800.00")
    page = client.get("/portal/lending/account/").content.decode()
    assert f'id="rights-{entitlement.pk}"' not in page  # nothing left to subscribe


def test_the_custodians_allotment_books_the_shares_and_tells_the_subscriber(issue, staff):
    account, action, entitlement, ex, end = issue
    investor = account.investor
    rights.rights_subscribe(entitlement=entitlement, quantity="600", actor=investor.user,
                            idempotency_key="r-a", on=ex)  # fmt: skip
    # not before the subscription ends; not by the investor
    with pytest.raises(RuleViolation) as early:
        rights.rights_settle(action=action, outcome="allotted", custodian_reference="CSDC-1",
                             actor=staff["ops"], reason="confirmation", on=end)  # fmt: skip
    assert early.value.code == "rights_subscription_open"
    after = calendar.add_trading_days(end, 1)
    with pytest.raises(PermissionDenied):
        rights.rights_settle(action=action, outcome="allotted", custodian_reference="CSDC-1",
                             actor=investor.user, reason="mine", on=after)  # fmt: skip
    # after it, no more subscriptions
    with pytest.raises(RuleViolation) as late:
        rights.rights_subscribe(entitlement=entitlement, quantity="1", actor=investor.user,
                                idempotency_key="r-late", on=after)  # fmt: skip
    assert late.value.code == "rights_subscription_ended"

    rights.rights_settle(action=action, outcome="allotted", custodian_reference="CSDC-1",
                         actor=staff["ops"], reason="allotment file", on=after)  # fmt: skip
    action.refresh_from_db()
    assert (action.status, action.allotment_outcome, action.allotment_reference) == (
        "settled", "allotted", "CSDC-1",
    )  # fmt: skip
    # 2,600 shares at 17.23 = 44,798.00 + cash 25,200.00 = 69,998.00; receivable settled
    view = _view(account)
    assert view.position(PINGAN).quantity == D("2600")
    assert view.entitlements_receivable == 0 and view.cash == D("25200.00")
    assert view.total_assets == D("69998.00")
    assert _balance("custodian_entitlements", "CNY") == 0
    assert trial_balance().balanced
    sub = entitlement.subscriptions.get()
    assert sub.status == "allotted" and sub.settle_entry is not None
    told = Notice.objects.get(kind="rights", entitlement=entitlement, stage=1, channel="portal")
    assert "600" in told.body and "4,800.00" in told.body and "CSDC-1" in told.body
    # once per issue
    with pytest.raises(Conflict):
        rights.rights_settle(action=action, outcome="failed", custodian_reference="CSDC-2",
                             actor=staff["ops"], reason="again", on=after)  # fmt: skip


def test_a_failed_issue_refunds_and_a_short_account_is_told_how_many_it_can_pay(
    issue, funded_account, staff, client
):
    account, action, entitlement, ex, end = issue
    investor = account.investor
    rights.rights_subscribe(entitlement=entitlement, quantity="500", actor=investor.user,
                            idempotency_key="r-f", on=ex)  # fmt: skip
    after = calendar.add_trading_days(end, 1)
    # the staff page (operations) records the outcome from the custodian's confirmation
    login_verified(client, staff["ops"])
    page = client.get(f"/staff/lending/corporate-actions/{action.pk}/").content.decode()
    assert "CSDC" not in page and 'name="custodian_reference"' in page
    rights.rights_settle(action=action, outcome="failed", custodian_reference="CSDC-9",
                         actor=staff["ops"], reason="issue under-subscribed", on=after)  # fmt: skip
    view = _view(account)
    assert view.cash == D("30000.00") and view.entitlements_receivable == 0
    assert entitlement.subscriptions.get().status == "refunded"
    assert trial_balance().balanced


def test_own_money_only_another_investor_and_the_api(issue, funded_account, book_instruments):
    account, action, entitlement, ex, _end = issue
    # a second holder with 1,000.00 of cash: 300 rights x 8.00 = 2,400.00 is refused, 125 fit
    poor = funded_account(deposit="21000", own=((PINGAN, 1000, "20.00"),), financed=())
    assert _view(poor).cash == D("1000.00")
    # (the ex-date ran before this holder bought: give it its own entitlement row as the
    # ex-date would have)
    theirs = CorporateActionEntitlement.objects.create(
        corporate_action=action, investor=poor.investor, credit_account=poor,
        quantity_held=D("1000"), rights_quantity=D("300"),
    )  # fmt: skip
    with pytest.raises(RuleViolation) as short:
        rights.rights_subscribe(entitlement=theirs, quantity="300", actor=poor.investor.user,
                                idempotency_key="p-1", on=ex)  # fmt: skip
    assert short.value.code == "insufficient_cash" and "125" in short.value.message
    # nobody acts on another's entitlement
    with pytest.raises(NotFound):
        rights.entitlement_for(poor.investor.user, entitlement.pk)
    with pytest.raises(PermissionDenied):
        rights.rights_subscribe(entitlement=entitlement, quantity="1", actor=poor.investor.user,
                                idempotency_key="p-2", on=ex)  # fmt: skip

    # the API: the holder subscribes with an Idempotency-Key and lists their subscriptions
    api = APIClient()
    api.force_authenticate(account.investor.user)
    body = {"entitlement": entitlement.pk, "quantity": "100"}
    assert api.post("/api/v1/rights-subscriptions/", body, format="json").status_code == 400
    made = api.post("/api/v1/rights-subscriptions/", body, format="json",
                    HTTP_IDEMPOTENCY_KEY="api-1")  # fmt: skip
    # the ex-date is the next trading day: subscriptions open on it
    assert made.status_code == 422 and made.json()["code"] == "rights_not_open"
    _ex_date_passed(action)
    made = api.post("/api/v1/rights-subscriptions/", body, format="json",
                    HTTP_IDEMPOTENCY_KEY="api-1")  # fmt: skip
    assert made.status_code == 201 and made.json()["amount"] == "800.00"
    assert made.json()["status"] == "subscribed"
    listed = api.get("/api/v1/rights-subscriptions/").json()
    assert [row["quantity"] for row in listed] == ["100"] and listed[0]["status"] == "subscribed"
    other = APIClient()
    other.force_authenticate(poor.investor.user)
    assert other.get("/api/v1/rights-subscriptions/").json() == []
    assert (
        other.post(f"/api/v1/rights-subscriptions/{listed[0]['id']}/cancel/", {}, format="json")
        .status_code == 404
    )  # fmt: skip
