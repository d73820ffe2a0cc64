"""Compliance fixtures, built through the real services (PostgreSQL, no mocks).

A pytest plugin (`pytest_plugins` in tests/conftest.py): its fixtures are available to every
test without an import. Its plain helpers (answers_for, QUESTIONS, BANDS, and login_verified
and second_factor from tests.second_factor) are imported by name where used.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.roles import Role
from tests.second_factor import login_verified, second_factor  # noqa: F401  (re-exported)

# Three questions scored 0-4 each: totals 0-12.
QUESTIONS = [
    {
        "text": "How much of a loss could you bear?",
        "options": [
            {"text": "None at all", "score": 0, "forces_lowest_category": True},
            {"text": "Up to 5%", "score": 1},
            {"text": "Up to 10%", "score": 2},
            {"text": "Up to 30%", "score": 3},
            {"text": "More than 30%", "score": 4},
        ],
    },
    {
        "text": "Years of investing experience?",
        "options": [{"text": f"{n} years", "score": n} for n in range(5)],
    },
    {
        "text": "What is your goal?",
        "options": [{"text": f"goal {n}", "score": n} for n in range(5)],
    },
]
BANDS = [
    {"min_score": 0, "max_score": 1, "risk_class": 1, "is_lowest_category": True},
    {"min_score": 2, "max_score": 3, "risk_class": 1},
    {"min_score": 4, "max_score": 5, "risk_class": 2},
    {"min_score": 6, "max_score": 7, "risk_class": 3},
    {"min_score": 8, "max_score": 9, "risk_class": 4},
    {"min_score": 10, "max_score": 12, "risk_class": 5},
]
# Target total per class (first question never 0, so the forced-lowest answer is avoided).
TOTAL_FOR = {"lowest": 1, 1: 2, 2: 4, 3: 6, 4: 8, 5: 11}


@pytest.fixture
def staff(make_user):
    team = {
        "ops": make_user(Role.OPERATIONS),
        "ops2": make_user(Role.OPERATIONS),
        "risk": make_user(Role.RISK),
        "risk2": make_user(Role.RISK),
        "compliance": make_user(Role.COMPLIANCE),
        "auditor": make_user(Role.AUDITOR),
    }
    # every staff write needs a verified second factor: the whole team has enrolled (users
    # without one are made with make_user where a test needs them)
    for member in team.values():
        second_factor(member)
    return team


@pytest.fixture
def questionnaire(db):
    from compliance import services

    return services.questionnaire_create(
        version=1, title="Risk tolerance v1", questions=QUESTIONS, bands=BANDS, actor=None
    )


def answers_for(questionnaire, target):
    """Answers whose total is TOTAL_FOR[target]."""
    total = TOTAL_FOR[target]
    questions = list(questionnaire.questions.order_by("order"))
    answers = {}
    for i, question in enumerate(questions):
        options = list(question.options.order_by("order"))
        remaining_max = 4 * (len(questions) - i - 1)
        score = max(0, total - remaining_max)
        if i == 0:
            score = max(score, 1)  # avoid the forced-lowest answer
        score = min(score, 4, total)
        answers[question.pk] = options[score].pk
        total -= score
    assert total == 0
    return answers


@pytest.fixture
def assess(questionnaire):
    from compliance import services

    def _assess(investor, target, *, taken_at=None):
        return services.assessment_submit(
            investor=investor,
            answers=answers_for(questionnaire, target),
            actor=investor.user,
            taken_at=taken_at,
        )

    return _assess


@pytest.fixture
def disclosure(db):
    from compliance import services

    return services.disclosure_publish(
        title="Margin financing risk disclosure",
        content="Margin financing magnifies losses. v1",
        actor=None,
    )


@pytest.fixture
def acknowledge():
    from compliance import selectors, services

    def _ack(investor):
        return services.disclosure_acknowledge(
            investor=investor,
            document=selectors.current_disclosure(),
            ip_address="203.0.113.9",
            user_agent="pytest",
            actor=investor.user,
        )

    return _ack


@pytest.fixture
def make_eligible(assess, disclosure, acknowledge):
    """An ordinary investor meeting every entry requirement: C4, acknowledged, declared no
    restricted-holder position, 2 years of trading, RMB 600,000 a day over the last 20
    trading days, no default, not related."""
    from compliance import calendar, selectors, services

    def _make(investor, *, risk_class=4, daily=Decimal("600000"), declare=True):
        assess(investor, risk_class)
        acknowledge(investor)
        if declare:
            services.restricted_declaration_record(
                investor=investor, holds_none=True, actor=investor.user, user_agent="pytest"
            )
        today = selectors.today()
        services.eligibility_facts_set(
            investor=investor,
            first_trade_date=today - timedelta(days=800),
            has_serious_default=False,
            is_related_party=False,
            firm_shareholding_pct=Decimal(0),
            evidence="brokerage file",
            actor=None,
            reason="test",
        )
        days = calendar.last_n_trading_days(calendar.previous_trading_day(today), 20)
        services.daily_assets_import(
            investor=investor, rows=[(d, daily) for d in days], source="api", actor=None
        )
        return investor

    return _make


@pytest.fixture
def some_day():
    return date(2026, 6, 1)
