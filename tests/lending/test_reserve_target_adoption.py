"""The reserve target a risk run proposes becomes the desk's only when a second person adopts
it (issue: "any stress run silently replaces it"): a treasurer, or a risk officer other than
the one who started the run, with a second factor; through the staff page and the API."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.errors import PermissionDenied, RuleViolation
from accounts.roles import Role
from custody import selectors as custody_selectors
from custody import services as custody_services
from lending.models import RiskRun
from lending.risk import services as risk
from tests.second_factor import login_verified, second_factor

pytestmark = pytest.mark.django_db

SCENARIOS = [{"name": "market -30%", "market_move": -0.30}]


@pytest.fixture
def proposed(five_x, staff):
    """A stress run of the risk officer proposing 37,500.00 while the desk's target is
    3,000,000.00 (set by treasury earlier)."""
    custody_services.reserve_target_set(
        currency="CNY", target=Decimal("3000000"), as_of=five_x.opened_at.date(),
        source="board decision", actor=None, reason="opening target",
    )  # fmt: skip
    run = risk.risk_run_start(
        kind="stress", actor=staff["risk"], reason="weekly review",
        parameters={"scenarios": SCENARIOS, "history": ""},
    )  # fmt: skip
    run = risk.risk_run_execute(run_id=run.pk)
    assert run.status == "succeeded" and run.reserve_target == Decimal("37500.00")
    return run


def _target():
    return custody_selectors.reserve_adequacy(currency="CNY").target


def test_a_run_only_proposes_its_target(proposed):
    assert _target() == Decimal("3000000.00")
    assert proposed.target_adopted_at is None


def test_the_officer_who_started_the_run_cannot_adopt_it(proposed, staff):
    with pytest.raises(RuleViolation, match="four eyes"):
        risk.risk_run_target_adopt(run=proposed, actor=staff["risk"], reason="looks right")
    assert _target() == Decimal("3000000.00")
    # and the database holds the rule too
    with pytest.raises(IntegrityError, match="four_eyes"), transaction.atomic():
        RiskRun.objects.filter(pk=proposed.pk).update(target_adopted_by=staff["risk"])


def test_roles_without_the_permission_are_refused(proposed, staff):
    for role in ("ops", "compliance", "auditor"):
        with pytest.raises(PermissionDenied):
            risk.risk_run_target_adopt(run=proposed, actor=staff[role], reason="x")
    assert _target() == Decimal("3000000.00")


def test_a_second_risk_officer_adopts_it_once(proposed, staff):
    run = risk.risk_run_target_adopt(run=proposed, actor=staff["risk2"], reason="agreed")
    assert run.target_adopted_by == staff["risk2"] and _target() == Decimal("37500.00")
    history = custody_selectors.reserve_adequacy(currency="CNY")
    assert history.target == Decimal("37500.00")
    with pytest.raises(Exception, match="was adopted"):
        risk.risk_run_target_adopt(run=proposed, actor=staff["risk2"], reason="again")


def test_a_treasurer_adopts_it_on_the_staff_page(proposed, make_user, client):
    treasurer = make_user(Role.TREASURY)
    second_factor(treasurer)
    login_verified(client, treasurer)
    url = reverse("staff:lending-risk-run-detail", args=[proposed.pk])
    page = client.get(url).content.decode()
    assert "Adopt this reserve target" in page or "采纳" in page
    answer = client.post(url, {"reason": ""})
    assert answer.status_code == 400 and _target() == Decimal("3000000.00")
    answer = client.post(url, {"reason": "board minutes 12/05"})
    assert answer.status_code == 302 and _target() == Decimal("37500.00")
    proposed.refresh_from_db()
    assert proposed.target_adopted_by == treasurer


def test_the_api_adopts_for_a_second_risk_officer_and_refuses_the_auditor(proposed, staff):
    api = APIClient()
    url = f"/api/v1/risk-runs/{proposed.pk}/adopt-target/"
    api.force_authenticate(staff["auditor"])
    assert api.post(url, {"reason": "x"}, format="json").status_code == 403
    api.force_authenticate(staff["risk2"])
    answer = api.post(url, {"reason": "agreed"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["target_adopted_at"] and _target() == Decimal("37500.00")
