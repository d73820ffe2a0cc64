"""Suitability: questionnaire, bands, matching rule, validity, classification."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.errors import RuleViolation, ValidationFailed
from accounts.roles import Role
from compliance import selectors, services
from compliance.models import MatchOutcome, RedFlag

pytestmark = pytest.mark.django_db


def codes(reasons):
    return [r.code for r in reasons]


def test_assessment_keeps_version_answers_and_validity(make_investor, assess, questionnaire):
    investor = make_investor()
    result = assess(investor, 4)
    assert (result.risk_class, result.is_lowest_category) == (4, False)
    assert result.questionnaire_version == 1
    assert len(result.answers) == 3 and {"question", "answer", "score"} <= set(result.answers[0])
    assert result.total_score == 8
    taken = timezone.localdate()
    assert result.valid_until.year == taken.year + 2  # validity: 24 months from the table


def test_forced_answer_puts_the_investor_in_the_lowest_category(make_investor, questionnaire):
    investor = make_investor()
    q = list(questionnaire.questions.order_by("order"))
    answers = {q[0].pk: q[0].options.get(order=1).pk}  # "None at all" forces lowest
    answers |= {x.pk: x.options.get(order=5).pk for x in q[1:]}
    result = services.assessment_submit(investor=investor, answers=answers, actor=None)
    assert result.total_score == 8 and result.risk_class == 1 and result.is_lowest_category


def test_missing_answer_names_the_question(make_investor, questionnaire):
    with pytest.raises(ValidationFailed, match="question 1"):
        services.assessment_submit(investor=make_investor(), answers={}, actor=None)


def test_lowest_category_must_sit_inside_c1(db):
    from tests.compliance.fixtures import BANDS, QUESTIONS

    bands = [dict(b) for b in BANDS]
    bands[1]["risk_class"], bands[1]["is_lowest_category"] = 2, True
    with pytest.raises(ValidationFailed, match="lowest category"):
        services.questionnaire_create(
            version=9, title="bad", questions=QUESTIONS, bands=bands, actor=None
        )


def test_c3_needs_a_confirmed_warning_and_lowest_never(make_investor, assess):
    # acceptance 1 (suitability half): C3 -> warning then allowed; lowest -> refused
    product = selectors.margin_product()
    c3 = make_investor()
    assess(c3, 3)
    assert codes(selectors.suitability_blockers(c3)) == ["warning_unconfirmed"]
    match = services.suitability_match_record(investor=c3, product=product, actor=c3.user)
    assert match.outcome == MatchOutcome.WARNING
    assert "C3" in match.warning_text and "R4" in match.warning_text
    assert codes(selectors.suitability_blockers(c3)) == ["warning_unconfirmed"]
    services.suitability_warning_confirm(
        match=match, investor=c3, ip_address="198.51.100.4", user_agent="ua", actor=c3.user
    )
    match.refresh_from_db()
    assert match.confirmed_at and match.confirmed_ip == "198.51.100.4"
    assert selectors.suitability_blockers(c3) == []

    lowest = make_investor()
    assess(lowest, "lowest")
    refused = services.suitability_match_record(investor=lowest, product=product, actor=None)
    assert refused.outcome == MatchOutcome.REFUSED
    with pytest.raises(RuleViolation):
        services.suitability_warning_confirm(
            match=refused, investor=lowest, ip_address=None, user_agent="", actor=None
        )
    assert codes(selectors.suitability_blockers(lowest)) == ["lowest_category"]
    assert RedFlag.objects.filter(investor=lowest, kind="suitability_refused").exists()


def test_c4_matches_margin_financing_directly(make_investor, assess):
    investor = make_investor()
    assess(investor, 4)
    assert selectors.suitability_blockers(investor) == []


def test_expired_assessment_must_be_retaken(make_investor, assess):
    investor = make_investor()
    assess(investor, 5, taken_at=timezone.now() - timedelta(days=2 * 366))
    assert codes(selectors.suitability_blockers(investor)) == ["assessment_expired"]
    with pytest.raises(RuleViolation, match="take the questionnaire"):
        services.suitability_match_record(
            investor=investor, product=selectors.margin_product(), actor=None
        )
    assess(investor, 5)
    assert selectors.suitability_blockers(investor) == []


def test_product_risk_level_is_a_dated_parameter(make_investor, assess):
    investor = make_investor()
    assess(investor, 4)
    product = selectors.margin_product()
    services.parameter_add(
        key="product_risk_level.margin_financing",
        effective_from=timezone.localdate() - timedelta(days=1),
        value=Decimal(5),
        source="test: regulator raised the level",
        actor=None,
    )
    assert selectors.product_risk_level(product) == 5
    assert codes(selectors.suitability_blockers(investor)) == ["warning_unconfirmed"]


def test_financing_margin_ratio_history():
    from datetime import date

    from compliance.parameters import FINANCING_MARGIN_RATIO as K

    assert selectors.parameter(K, on=date(2015, 11, 22)) == Decimal("0.5")
    assert selectors.parameter(K, on=date(2015, 11, 23)) == Decimal("1")
    assert selectors.parameter(K, on=date(2023, 9, 8)) == Decimal("0.8")
    assert selectors.parameter(K, on=date(2026, 1, 19)) == Decimal("1")


def test_classification_and_professional_request(make_investor, make_user):
    investor = make_investor()
    record = services.investor_classify(
        investor=investor,
        financial_assets=Decimal(6_000_000),
        experience_years=Decimal(3),
        actor=None,
    )
    investor.refresh_from_db()
    assert record.result == investor.category == "professional"

    ordinary = make_investor()
    request = services.professional_request_submit(
        investor=ordinary,
        financial_assets=Decimal(3_500_000),
        average_income_3y=Decimal(0),
        experience_years=Decimal(1),
        actor=ordinary.user,
    )
    assert "protections" in request.warning_text
    officer = make_user(Role.COMPLIANCE)
    services.professional_request_assess(
        request=request, approve=True, reason="assets verified", actor=officer
    )
    ordinary.refresh_from_db()
    assert ordinary.category == "professional"
    assert request.history.first().history_user == officer

    weak = make_investor()
    low = services.professional_request_submit(
        investor=weak,
        financial_assets=Decimal(100_000),
        average_income_3y=Decimal(0),
        experience_years=Decimal(0),
        actor=None,
    )
    with pytest.raises(RuleViolation, match="do not meet"):
        services.professional_request_assess(request=low, approve=True, reason="x", actor=officer)
