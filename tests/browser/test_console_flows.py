"""The three flows of issue 9 in Chromium: investor onboarding to the account page, a credit
approval by two staff users (maker, then checker with a second factor), and a margin call
appearing on the investor's page after a price fall. Steps done outside the web by design
(identity verification by operations, the bank transfer, the price feed and revaluation) go
through the real services."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.compliance.fixtures import answers_for
from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, PINGAN
from tests.second_factor import totp_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def _eligibility_on_file(investor):
    """What operations import for every applicant: trading history and daily assets."""
    from compliance import calendar, selectors, services

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
        investor=investor, rows=[(d, Decimal("600000")) for d in days], source="api", actor=None
    )


def test_investor_onboarding_to_the_account_page(
    page, live_server, staff, questionnaire, disclosure, book_instruments
):
    from accounts import services as accounts_services
    from accounts.models import User
    from custody import services as custody
    from lending.credit import services as credit

    page.set_extra_http_headers({"Accept-Language": "en"})
    # sign up
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("a[href='/accounts/signup/']")
    page.fill("#id_full_name", "Zhang Wei")
    page.fill("#id_email", "zhang.wei@example.com")
    page.fill("#id_password1", "a-long-pass-phrase-7")
    page.fill("#id_password2", "a-long-pass-phrase-7")
    page.check("#id_accept")
    page.click("main button[type=submit]")
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.locator("#profile-pending")).to_be_visible()
    # operations verify the identity and open the profile (bank account of record)
    user = User.objects.get(email="zhang.wei@example.com")
    investor = accounts_services.investor_profile_create(
        user=user,
        real_name="张伟",
        id_type="resident_id",
        id_number="110101199001012345",
        bank_name="中国银行",
        bank_account="6217000012345678901",
        actor=staff["ops"],
        reason="identity verified by video",
    )
    _eligibility_on_file(investor)
    # suitability test, from the step on the overview
    page.reload()
    page.click("[data-step=suitability] a")
    for question, option in answers_for(questionnaire, 4).items():
        page.check(f"input[name=q{question}][value='{option}']")
    page.click("main button[type=submit]")
    expect(page).to_have_url(re.compile(r"/assessments/\d+/$"))
    page.goto(f"{live_server.url}/portal/compliance/")
    check = page.locator("form[action$='/compliance/suitability/'] button").first
    if check.count():
        check.click()
    # risk disclosure
    page.goto(f"{live_server.url}/portal/compliance/disclosure/")
    page.click("main form button[type=submit]")
    # the declaration of positions in listed companies: none
    page.goto(f"{live_server.url}/portal/")
    page.click("[data-step=restricted] a")
    page.click("button[value=declare_none]")
    # credit application
    page.goto(f"{live_server.url}/portal/")
    page.click("[data-step=credit] a")
    page.fill("#id_requested_limit", "500000")
    page.click("main form button[type=submit] >> nth=0")
    expect(page.locator(".message.success")).to_be_visible()
    # the desk approves (maker and checker; in the browser in the next test)
    application = investor.credit_applications.get()
    application = credit.credit_application_prepare(
        application=application,
        actor=staff["ops"],
        credit_grade="B",
        collateral_liquidity="high",
        proposed_limit=Decimal("500000"),
        proposed_term_months=6,
        note="verified",
    )
    contract = credit.credit_application_approve(
        application=application, actor=staff["risk"], reason="within policy"
    )
    custody.client_deposit_post(
        investor=investor,
        amount=Decimal("200000"),
        currency="CNY",
        bank_account="6217000012345678901",
        reference="first deposit",
        actor=None,
        idempotency_key="browser-onboarding-deposit",
    )
    page.goto(f"{live_server.url}/portal/")
    expect(page.locator("#figures h2")).to_contain_text(contract.credit_account.account_number)
    expect(page.locator("#ratio svg.gauge")).to_be_visible()
    expect(page.locator("#deposits")).to_contain_text("Credited")
    page.click("nav.subnav a[href='/portal/lending/account/']")
    expect(page.locator("h1")).to_contain_text(contract.credit_account.account_number)


def test_credit_approval_by_two_staff_users(
    page, live_server, sign_in, sign_in_verified, staff, make_investor, make_eligible
):
    from accounts.models import User
    from lending.credit import services as credit
    from lending.models import CreditApplication

    investor = make_eligible(make_investor())
    application = credit.credit_application_submit(
        investor=investor,
        requested_limit=Decimal("300000"),
        requested_term_months=6,
        actor=investor.user,
    )
    page.set_extra_http_headers({"Accept-Language": "en"})
    # maker: operations prepares from the dashboard's queue (signed in with the code: every
    # staff write needs the second factor)
    sign_in_verified(page, staff["ops"])
    expect(page.locator("[data-queue=credit] .queue-count")).to_have_text("1")
    page.click("[data-queue=credit]")
    page.click(f"a[href='/staff/lending/applications/{application.pk}/']")
    page.select_option("#id_credit_grade", "B")
    page.select_option("#id_collateral_liquidity", "high")
    page.fill("#id_proposed_limit", "300000")
    page.fill("#id_proposed_term_months", "6")
    page.fill("#id_note", "assets verified")
    page.click("main form:has(input[value=prepare]) button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()
    page.click(".toolbar button.link-button")
    page.wait_for_load_state("networkidle")
    # checker: a risk officer, signed in with the authenticator
    risk = User.objects.get(pk=staff["risk"].pk)
    device = risk.totpdevice_set.get()
    sign_in(page, risk.email)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/verify/"))
    page.fill("#id_token", totp_code(device))
    page.click("main button[type=submit]")
    expect(page).to_have_url(re.compile(r"/staff/$"))
    page.goto(f"{live_server.url}/staff/lending/applications/{application.pk}/")
    page.select_option("#id_decision", "approve")
    page.fill("#id_reason", "within policy")
    page.click("main form:has(input[value=decide]) button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()
    application = CreditApplication.objects.get(pk=application.pk)
    assert application.status == "approved"
    assert application.prepared_by_id == staff["ops"].pk
    assert application.decided_by_id == risk.pk


def test_margin_call_appears_on_the_investors_page_after_a_price_fall(
    page, live_server, sign_in, account
):
    from lending.margin_calls import services as calls

    page.set_extra_http_headers({"Accept-Language": "zh-CN"})
    sign_in(page, account.investor.user.email)
    expect(page.locator("#ratio svg.gauge")).to_contain_text("242.9%")
    expect(page.locator(".notice-ack")).to_have_count(0)
    # the price feed falls and the mark-to-market revalues the account
    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    call = calls.account_revalue(credit_account=account).call
    assert call is not None
    page.reload()
    expect(page.locator("#open-calls")).to_be_visible()
    expect(page.locator(".notice-ack")).to_have_count(1)
    expect(page.locator("#ratio .pill")).to_have_text("追加担保物通知")
    page.click(".notice-ack button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()
    page.goto(f"{live_server.url}/portal/")
    expect(page.locator(".notice-ack")).to_have_count(0)
