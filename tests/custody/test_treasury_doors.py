"""The treasury's doors: a staff page and API routes for statements and reconciliation, breaks,
the reserve fund, house capital and backup facilities, each write checked by the service's
permission (the auditor reads, operations import statements, only treasury moves house money),
and the daily internal reconciliation in the beat schedule."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.errors import PermissionDenied
from accounts.roles import Role
from custody import selectors, services
from custody.models import BreakStatus, JournalEntry, Reconciliation, UncoveredLoss
from tests.second_factor import login_verified, second_factor

pytestmark = pytest.mark.django_db

URL = "/staff/custody/treasury/"


@pytest.fixture
def team(make_user):
    members = {
        "treasury": make_user(Role.TREASURY),
        "ops": make_user(Role.OPERATIONS),
        "auditor": make_user(Role.AUDITOR),
    }
    for user in members.values():
        second_factor(user)
    return members


def _statement(balance: str) -> SimpleUploadedFile:
    day = timezone.localdate().isoformat()
    text = (
        f"statement_date,account_number,currency,closing_balance\n{day},ICBC-0001,CNY,{balance}\n"
    )
    return SimpleUploadedFile("icbc.csv", text.encode(), content_type="text/csv")


def test_treasury_imports_a_statement_and_resolves_the_break_on_the_page(
    funded_investor, team, client
):
    funded_investor("1000.00")
    bank = services.house_account("client_bank", "CNY")
    services.ledger_account_set_external_ref(
        account=bank, external_ref="ICBC-0001", actor=None, reason="bank mapping"
    )
    login_verified(client, team["treasury"])
    page = client.get(URL)
    assert page.status_code == 200
    answer = client.post(
        URL,
        {"action": "statement", "statement-source": "bank", "statement-institution": "ICBC",
         "statement-file": _statement("999.99")},
    )  # fmt: skip
    assert answer.status_code == 302
    (brk,) = selectors.breaks_open()
    assert brk.difference == Decimal("-0.01")
    page = client.get(URL).content.decode()
    assert f"<td>{brk.pk}</td>" in page and "-0.01" in page
    # the same file again is refused with the reason, nothing imported twice
    again = client.post(
        URL,
        {"action": "statement", "statement-source": "bank", "statement-institution": "ICBC",
         "statement-file": _statement("999.99")},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert again.status_code == 400 and "already imported" in again.content.decode()
    answer = client.post(
        URL, {"action": "resolve", "resolve-break_id": brk.pk, "resolve-reason": "bank fee"}
    )
    assert answer.status_code == 302
    brk.refresh_from_db()
    assert brk.status == BreakStatus.RESOLVED and brk.resolved_by == team["treasury"]


def test_the_auditor_reads_but_writes_nothing_and_operations_may_not_move_house_money(team, client):
    login_verified(client, team["auditor"])
    assert client.get(URL).status_code == 200
    before = JournalEntry.objects.count()
    answer = client.post(
        URL, {"action": "reserve", "reserve-amount": "100", "reserve-currency": "CNY",
              "reserve-reason": "x", "reserve-key": "k1"},
    )  # fmt: skip
    assert answer.status_code == 403
    login_verified(client, team["ops"])
    answer = client.post(
        URL, {"action": "capital", "capital-amount": "100", "capital-currency": "CNY",
              "capital-reason": "x", "capital-key": "k2"},
    )  # fmt: skip
    assert answer.status_code == 403
    with pytest.raises(PermissionDenied):
        services.reserve_fund_contribute(
            amount="100", currency="CNY", actor=team["ops"], reason="x", idempotency_key="k3"
        )
    assert JournalEntry.objects.count() == before


def test_reserve_contribution_and_a_facility_through_the_api(team):
    api = APIClient()
    api.force_authenticate(team["treasury"])
    url = "/api/v1/custody/reserve-fund/contributions/"
    body = {"amount": "500000.00", "currency": "CNY", "reason": "board resolution 12/05"}
    assert api.post(url, body, format="json").status_code == 400  # no Idempotency-Key
    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="reserve-1")
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="reserve-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["entry"] == again.json()["entry"]
    assert selectors.reserve_fund_balance(currency="CNY") == Decimal("500000.00")

    today = timezone.localdate()
    made = api.post(
        "/api/v1/custody/facilities/",
        {"bank": "BOC", "limit": "1000000.00", "start_date": today.isoformat(),
         "expiry_date": today.replace(year=today.year + 1).isoformat(), "reason": "backup"},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    too_much = api.post(
        f"/api/v1/custody/facilities/{pk}/draw/",
        {"amount": "1000000.01", "reason": "liquidity"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="draw-0",
    )
    assert too_much.status_code == 422 and too_much.json()["message"].startswith("amount:")
    drawn = api.post(
        f"/api/v1/custody/facilities/{pk}/draw/",
        {"amount": "200000.00", "reason": "liquidity"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="draw-1",
    )
    assert drawn.status_code == 201
    closing = api.post(f"/api/v1/custody/facilities/{pk}/close/", {"reason": "x"}, format="json")
    assert closing.status_code == 422  # money still drawn
    repaid = api.post(
        f"/api/v1/custody/facilities/{pk}/repay/",
        {"amount": "200000.00", "reason": "back"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="repay-1",
    )
    assert repaid.status_code == 201
    closed = api.post(f"/api/v1/custody/facilities/{pk}/close/", {"reason": "x"}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    api.force_authenticate(team["auditor"])
    listed = api.get("/api/v1/custody/facilities/").json()
    assert [f["id"] for f in listed] == [pk]
    refused = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="reserve-2")
    assert refused.status_code == 403


def test_the_daily_internal_reconciliation_runs_in_the_end_of_day(funded_investor):
    """Beat starts the end of day every day; its reconciliation step (after the client-money
    requirement) reconciles each client currency (the chain itself: tests/reports/
    test_end_of_day.py)."""
    from reports.eod.steps import BY_NAME, STEPS

    schedule = settings.CELERY_BEAT_SCHEDULE["reports-end-of-day"]
    assert schedule["task"] == "reports.tasks.eod_run_daily"
    names = [step.name for step in STEPS]
    assert names.index("client_money") < names.index("reconciliation")
    funded_investor("1000.00")
    result = BY_NAME["reconciliation"].shard(timezone.localdate(), {}, 0, 1)
    recon = Reconciliation.objects.get(kind="internal", business_date=timezone.localdate())
    assert result == {"open_breaks:CNY": recon.breaks.filter(status="open").count()}
    assert recon.requirement.requirement == Decimal("1000")


def _owing(make_investor, amount: str):
    """An investor owing `amount` of financing (a receivable posted against house money)."""
    investor = make_investor()
    receivable = services.client_account(investor, "financing_receivable", "CNY")
    bank = services.house_account("house_bank", "CNY")
    services.entry_post(
        legs=[services.debit(receivable, Decimal(amount)), services.credit(bank, Decimal(amount))],
        memo="financing outstanding",
        actor=None,
        idempotency_key=f"owing-{investor.pk}",
    )
    return investor


def test_a_default_beyond_the_reserve_draws_a_facility_then_leaves_an_uncovered_loss(
    make_investor, team, client
):
    services.reserve_fund_contribute(
        amount="1000", currency="CNY", actor=None, reason="seed", idempotency_key="rf"
    )
    today = timezone.localdate()
    facility = services.facility_create(
        bank="BOC", limit="3000", currency="CNY", start_date=today,
        expiry_date=today.replace(year=today.year + 1), actor=None, reason="backup",
    )  # fmt: skip
    investor = _owing(make_investor, "5000")
    entry = services.reserve_fund_use(
        investor=investor, amount="5000", currency="CNY", actor=None,
        reason="default after liquidation", idempotency_key="default-1",
    )  # fmt: skip
    # 1,000 from the reserve fund, 3,000 drawn on the facility, 1,000 uncovered
    assert selectors.reserve_fund_balance(currency="CNY") == 0
    assert selectors.facility_drawn(facility=facility) == Decimal("3000")
    (loss,) = UncoveredLoss.objects.all()
    assert loss.amount == Decimal("1000") and loss.entry == entry and loss.status == "open"
    assert selectors.trial_balance().balanced
    login_verified(client, team["treasury"])
    assert "uncovered-losses" in client.get(URL).content.decode()
    answer = client.post(
        URL, {"action": "loss", "loss-loss_id": loss.pk, "loss-action_taken": "capital call"}
    )
    assert answer.status_code == 302
    loss.refresh_from_db()
    assert loss.status == "addressed" and loss.addressed_by == team["treasury"]


def test_the_staff_dashboard_shows_open_breaks_with_their_age_and_lateness(
    funded_investor, team, client
):
    from custody.models import ReconciliationBreak

    funded_investor("1000.00")
    bank = services.house_account("client_bank", "CNY")
    services.ledger_account_set_external_ref(
        account=bank, external_ref="ICBC-0001", actor=None, reason="bank mapping"
    )
    statement = services.statement_import(
        source="bank", institution="ICBC", content=_statement("999.99").read(),
        file_name="icbc.csv", actor=None,
    )  # fmt: skip
    services.reconciliation_external_run(statement=statement, actor=None)
    brk = ReconciliationBreak.objects.get()
    ReconciliationBreak.objects.filter(pk=brk.pk).update(due_at=timezone.now())  # past due
    login_verified(client, team["treasury"])
    page = client.get("/staff/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Open reconciliation breaks (oldest" in page and "1 late)" in page
    assert "/staff/custody/treasury/#breaks" in page
