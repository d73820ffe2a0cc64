"""Demo desk, compliance part: parameters, questionnaire v1, disclosure v1, the margin
product, and for each demo investor an assessment, an acknowledgement, entry-requirement
facts, 20 trading days of assets and a passed eligibility check. Idempotent."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction

from accounts.models import InvestorProfile, User

from . import calendar, selectors, services
from .models import DisclosureDocument, Questionnaire

DEMO_INVESTORS = ("zhang.wei@demo.margindesk.local", "li.na@demo.margindesk.local")

QUESTIONS = [
    {
        "text": "您能承受的最大投资亏损是多少？(What is the largest loss you could bear?)",
        "options": [
            {"text": "不能承受任何亏损 (none)", "score": 0, "forces_lowest_category": True},
            {"text": "10% 以内 (up to 10%)", "score": 2},
            {"text": "10%–30%", "score": 4},
            {"text": "30%–50%", "score": 6},
            {"text": "50% 以上 (more than 50%)", "score": 8},
        ],
    },
    {
        "text": "您的证券投资经验有多少年？(Years of securities investing?)",
        "options": [
            {"text": "无 (none)", "score": 0},
            {"text": "1 年以内 (under 1)", "score": 2},
            {"text": "1–3 年", "score": 4},
            {"text": "3–5 年", "score": 6},
            {"text": "5 年以上 (over 5)", "score": 8},
        ],
    },
    {
        "text": "您是否了解融资融券的杠杆与强制平仓风险？(Do you understand leverage and forced "
        "liquidation?)",
        "options": [
            {"text": "不了解 (no)", "score": 0},
            {"text": "略有了解 (a little)", "score": 3},
            {"text": "充分了解 (fully)", "score": 6},
        ],
    },
    {
        "text": "您的投资资金占家庭金融资产的比例？(Share of household financial assets?)",
        "options": [
            {"text": "70% 以上 (over 70%)", "score": 0},
            {"text": "30%–70%", "score": 2},
            {"text": "30% 以内 (under 30%)", "score": 4},
        ],
    },
    {
        "text": "您的投资目标是什么？(Your investment goal?)",
        "options": [
            {"text": "保本 (capital preservation)", "score": 0},
            {"text": "稳健增长 (steady growth)", "score": 2},
            {"text": "较高收益 (higher returns)", "score": 4},
        ],
    },
]
BANDS = [
    {"min_score": 0, "max_score": 5, "risk_class": 1, "is_lowest_category": True},
    {"min_score": 6, "max_score": 11, "risk_class": 1},
    {"min_score": 12, "max_score": 17, "risk_class": 2},
    {"min_score": 18, "max_score": 23, "risk_class": 3},
    {"min_score": 24, "max_score": 27, "risk_class": 4},
    {"min_score": 28, "max_score": 30, "risk_class": 5},
]

DISCLOSURE_TITLE = "融资融券交易风险揭示书 (Margin financing risk disclosure)"
DISCLOSURE_TEXT = """\
一、融资融券交易具有杠杆效应，在放大收益的同时也会放大亏损，投资者可能损失全部保证金并承担额外债务。
二、维持担保比例低于 130% 时，本公司将发出追加担保物通知；投资者须在两个交易日内将比例恢复至 150%
以上，否则本公司有权强制平仓，所得资金优先偿还融资债务。
三、融资利率、保证金比例、折算率等可能随监管规定和本公司政策调整。
四、信用账户仅限本人使用，不得出借、转让或用于第三方交易。

1. Margin financing is leveraged: it magnifies losses as well as gains; you may lose all your
margin and still owe money.
2. Below a 130% maintenance ratio the desk issues a margin call; restore 150% within two trading
days or the desk may sell your collateral, repaying financing first.
3. Rates, margin ratios and haircuts may change with regulation and desk policy.
4. The credit account is for your own use only: never lent, transferred or traded by a third party.
"""


def _answers(questionnaire: Questionnaire, picks: list[int]) -> dict[int, int]:
    questions = list(questionnaire.questions.order_by("order"))
    return {
        q.pk: list(q.options.order_by("order"))[pick].pk
        for q, pick in zip(questions, picks, strict=True)
    }


def seed(stdout) -> None:
    with transaction.atomic():
        services.parameters_seed()
        services.product_upsert(
            code="margin_financing", name="融资融券 (margin financing)", risk_level=4, actor=None
        )
        questionnaire = Questionnaire.objects.filter(version=1).first()
        if questionnaire is None:
            questionnaire = services.questionnaire_create(
                version=1,
                title="投资者风险承受能力问卷 v1 (risk tolerance questionnaire)",
                questions=QUESTIONS,
                bands=BANDS,
                actor=None,
            )
        if not DisclosureDocument.objects.exists():
            services.disclosure_publish(title=DISCLOSURE_TITLE, content=DISCLOSURE_TEXT, actor=None)
        officer = User.objects.filter(email="compliance@demo.margindesk.local").first()
        today = selectors.today()
        for email in DEMO_INVESTORS:
            investor = InvestorProfile.objects.filter(user__email=email).first()
            if investor is None:
                continue
            if selectors.valid_assessment(investor) is None:
                # 6 + 6 + 6 + 4 + 2 = 24 -> C4
                services.assessment_submit(
                    investor=investor,
                    answers=_answers(questionnaire, [3, 3, 2, 2, 1]),
                    actor=investor.user,
                    questionnaire=questionnaire,
                )
            if selectors.restricted_declaration_blockers(investor):
                services.restricted_declaration_record(
                    investor=investor, holds_none=True, actor=investor.user, user_agent="demo seed"
                )
            if selectors.disclosure_blockers(investor):
                services.disclosure_acknowledge(
                    investor=investor,
                    document=selectors.current_disclosure(),
                    ip_address="127.0.0.1",
                    user_agent="demo seed",
                    actor=investor.user,
                )
            services.eligibility_facts_set(
                investor=investor,
                first_trade_date=today - timedelta(days=3 * 365),
                has_serious_default=False,
                is_related_party=False,
                firm_shareholding_pct=Decimal(0),
                evidence="demo: brokerage account file and credit bureau report",
                actor=officer,
                reason="demo seed",
            )
            days = calendar.last_n_trading_days(calendar.previous_trading_day(today), 20)
            services.daily_assets_import(
                investor=investor,
                rows=[(d, Decimal("1200000.00")) for d in days],
                source="demo",
                actor=officer,
            )
            if selectors.eligibility_blockers(investor):
                services.eligibility_check_run(investor=investor, actor=officer, as_of=today)
    stdout.write("compliance: parameters, questionnaire v1, disclosure v1, demo investors ready")
