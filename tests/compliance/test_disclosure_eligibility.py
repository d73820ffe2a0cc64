"""Disclosures (acknowledgement blocks drawdowns), eligibility with evidence, red flags."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.errors import Conflict, RuleViolation
from accounts.roles import Role
from compliance import calendar, selectors, services
from compliance.models import HeldDeposit, RedFlag

pytestmark = pytest.mark.django_db


def codes(reasons):
    return [r.code for r in reasons]


def test_acknowledgement_records_version_hash_ip_and_agent(make_investor, disclosure):
    investor = make_investor()
    ack = services.disclosure_acknowledge(
        investor=investor,
        document=disclosure,
        ip_address="203.0.113.7",
        user_agent="Mozilla/5.0",
        actor=investor.user,
    )
    assert ack.version == 1 and len(ack.sha256) == 64
    assert ack.sha256 == services.sha256_of(disclosure.content)
    assert (ack.ip_address, ack.user_agent) == ("203.0.113.7", "Mozilla/5.0")
    assert ack.acknowledged_at is not None


def test_new_disclosure_version_blocks_drawdown_until_acknowledged(
    make_investor, assess, disclosure, acknowledge
):
    # acceptance 2 (drawdown half): the selector lending calls before a drawdown
    investor = make_investor()
    assess(investor, 4)
    assert codes(selectors.drawdown_blockers(investor)) == ["disclosure_unacknowledged"]
    acknowledge(investor)
    assert selectors.may_draw_down(investor)
    # when compliance publishes version 2
    v2 = services.disclosure_publish(
        title="Margin financing risk disclosure", content="v2: new rules", actor=None
    )
    assert v2.version == 2
    # then the next drawdown is refused, naming the version to acknowledge
    reasons = selectors.drawdown_blockers(investor)
    assert codes(reasons) == ["disclosure_unacknowledged"] and "2" in reasons[0].message
    assert not selectors.may_draw_down(investor)
    # an old version cannot be acknowledged in its place
    with pytest.raises(RuleViolation, match="not the current"):
        services.disclosure_acknowledge(
            investor=investor, document=disclosure, ip_address=None, user_agent="", actor=None
        )
    acknowledge(investor)
    assert selectors.may_draw_down(investor)


def test_expired_assessment_also_blocks_drawdown(make_investor, assess, acknowledge, disclosure):
    from django.utils import timezone

    investor = make_investor()
    assess(investor, 4, taken_at=timezone.now() - timedelta(days=800))
    acknowledge(investor)
    assert codes(selectors.drawdown_blockers(investor)) == ["assessment_expired"]


def test_average_assets_over_20_trading_days_skips_spring_festival(make_investor, assess):
    # acceptance 4: 20 Shanghai trading days ending 2026-03-06 start on 2026-01-30
    investor = make_investor()
    services.eligibility_facts_set(
        investor=investor,
        first_trade_date=date(2024, 1, 2),
        has_serious_default=False,
        is_related_party=False,
        firm_shareholding_pct=Decimal("0.5"),
        evidence="file",
        actor=None,
        reason="test",
    )
    expected = calendar.last_n_trading_days(date(2026, 3, 6), 20)
    rows = [(d, Decimal("500000")) for d in expected]
    # figures on closed days (Spring Festival week) exist in the import but must not count
    rows += [(date(2026, 2, 16) + timedelta(days=i), Decimal("0")) for i in range(5)]
    services.daily_assets_import(investor=investor, rows=rows, source="csv", actor=None)
    check = services.eligibility_check_run(investor=investor, actor=None, as_of=date(2026, 3, 6))
    item = check.items.get(rule="average_assets")
    assert item.passed, item.message
    assert item.evidence["trading_days"][0] == "2026-01-30"
    assert len(item.evidence["trading_days"]) == 20
    assert "2026-02-16" not in item.evidence["trading_days"]
    assert item.evidence["average"] == "500000.00"


def test_eligibility_failures_keep_their_evidence(make_investor, assess):
    investor = make_investor()
    assess(investor, 3)
    services.eligibility_facts_set(
        investor=investor,
        first_trade_date=date(2026, 1, 5),
        has_serious_default=True,
        is_related_party=False,
        firm_shareholding_pct=Decimal("5"),
        evidence="bureau report 42",
        actor=None,
        reason="test",
    )
    check = services.eligibility_check_run(investor=investor, actor=None, as_of=date(2026, 3, 6))
    failed = {i.rule for i in check.items.all() if not i.passed}
    assert failed == {
        "trading_experience",
        "average_assets",
        "no_serious_default",
        "not_related_party",
        "risk_class",
    }
    assert not check.passed
    assert check.items.get(rule="average_assets").evidence["missing"][0] == "2026-01-30"


def test_small_shareholder_is_excepted_and_institution_exempt(make_investor):
    institution = make_investor(investor_type="institution", category="professional")
    services.eligibility_facts_set(
        investor=institution,
        first_trade_date=None,
        has_serious_default=False,
        is_related_party=False,
        firm_shareholding_pct=Decimal("4.99"),
        evidence="",
        actor=None,
        reason="test",
    )
    check = services.eligibility_check_run(investor=institution, actor=None)
    assert check.passed, [(i.rule, i.message) for i in check.items.all()]


def test_csv_import_of_daily_assets(make_investor, make_user):
    investor = make_investor()
    text = f'email,date,total_assets\n{investor.user.email},2026-03-06,"700,000.50"\n'
    from accounts.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match=r"compliance\.add_dailyassetfigure"):
        services.daily_assets_import_csv(text=text, actor=make_user(Role.OPERATIONS))
    assert not investor.daily_assets.exists()
    assert services.daily_assets_import_csv(text=text, actor=make_user(Role.COMPLIANCE)) == 1
    assert investor.daily_assets.get().total_assets == Decimal("700000.50")
    from accounts.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="line 2"):
        services.daily_assets_import_csv(
            text="email,date,total_assets\nnobody@x,2026-01-01,1\n", actor=None
        )


def test_deposit_from_other_account_is_held_and_flagged(make_investor):
    # acceptance 5 (deposit half), compliance side
    investor = make_investor()
    held = services.deposit_hold(
        investor=investor,
        amount=Decimal("50000"),
        currency="CNY",
        bank_account="6228480000111122223",
        reference="WIRE-1",
        idempotency_key="dep-1",
        actor=None,
    )
    assert held.status == "held" and held.red_flag.kind == "third_party_deposit"
    assert "2223" in held.bank_account_masked and "6228480000111122223" not in str(
        held.red_flag.details
    )
    # the same key again returns the same hold; another amount is a conflict
    assert (
        services.deposit_hold(
            investor=investor,
            amount=Decimal("50000"),
            currency="CNY",
            bank_account="6228480000111122223",
            reference="WIRE-1",
            idempotency_key="dep-1",
            actor=None,
        )
        == held
    )
    with pytest.raises(Conflict):
        services.deposit_hold(
            investor=investor,
            amount=Decimal("1"),
            currency="CNY",
            bank_account="6228480000111122223",
            reference="WIRE-1",
            idempotency_key="dep-1",
            actor=None,
        )
    assert HeldDeposit.objects.count() == 1


def test_sub_accounts_and_third_party_authority_are_refused_and_recorded(make_investor):
    investor = make_investor()
    with pytest.raises(RuleViolation, match="sub-accounts"):
        services.sub_account_refuse(investor=investor, details={"name": "x"}, actor=None)
    with pytest.raises(RuleViolation, match="third-party"):
        services.third_party_authority_refuse(investor=investor, details={}, actor=None)
    assert set(RedFlag.objects.filter(investor=investor).values_list("kind", flat=True)) == {
        "sub_account",
        "third_party_authority",
    }
