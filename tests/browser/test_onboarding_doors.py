"""Issue 17's second acceptance, in Chromium: an investor who signs up today is onboarded to
an approved contract and a first deposit through the doors only: sign-up; identity and bank
of record recorded by operations; eligibility facts by operations, daily assets by compliance;
suitability, disclosure and the application by the investor; four eyes (operations prepares,
risk approves); the bank statement's credit line imported by treasury; the investor sees the
account and the deposit."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from tests.compliance.fixtures import answers_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "li.hua@example.com"
PASSWORD = "a-long-pass-phrase-7"
BANK = "6217000012345670000"


def test_a_new_investor_is_onboarded_through_the_doors(
    page, live_server, sign_in, sign_in_verified, staff, make_user, questionnaire, disclosure,
    book_instruments, tmp_path,
):  # fmt: skip
    from compliance import calendar, selectors
    from lending.models import CreditAccount

    page.set_extra_http_headers({"Accept-Language": "en"})
    url = live_server.url
    # 1. sign-up
    page.goto(f"{url}/accounts/signup/")
    page.fill("#id_full_name", "Li Hua")
    page.fill("#id_email", EMAIL)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.check("#id_accept")
    page.click("main button[type=submit]")
    expect(page).to_have_url(re.compile(r"/portal/$"))

    # 2. operations: identity and bank account of record, then the eligibility facts
    page.context.clear_cookies()
    sign_in_verified(page, staff["ops"])
    page.goto(f"{url}/staff/compliance/investors/")
    page.click("#awaiting-identity a")
    page.fill("#id_real_name", "李华")
    page.select_option("#id_id_type", "resident_id")
    page.fill("#id_id_number", "110101199203041234")
    page.fill("#id_bank_name", "中国银行")
    page.fill("#id_bank_account", BANK)
    page.fill("#id_reason", "verified by video witness")
    page.click("#identity-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/staff/compliance/investors/\d+/$"))
    today = selectors.today()
    page.fill("#id_facts-first_trade_date", (today - timedelta(days=800)).isoformat())
    page.fill("#id_facts-firm_shareholding_pct", "0")
    page.fill("#id_facts-evidence", "brokerage file, credit bureau report")
    page.fill("#id_facts-reason", "onboarding")
    page.click("#eligibility form:has(input[value=facts]) button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()
    # the daily assets of the ordinary account: imported by compliance
    days = calendar.last_n_trading_days(calendar.previous_trading_day(today), 20)
    figures = tmp_path / "daily-assets.csv"
    figures.write_text(
        "email,date,total_assets\n" + "".join(f"{EMAIL},{d.isoformat()},600000\n" for d in days)
    )
    page.context.clear_cookies()
    sign_in_verified(page, staff["compliance"])
    page.goto(f"{url}/staff/compliance/daily-assets/")
    page.set_input_files("#id_file", str(figures))
    page.click("main form button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()

    # 3. the investor: suitability, disclosure, application
    page.context.clear_cookies()
    sign_in(page, EMAIL, PASSWORD)
    page.goto(f"{url}/portal/")
    page.click("[data-step=suitability] a")
    for question, option in answers_for(questionnaire, 4).items():
        page.check(f"input[name=q{question}][value='{option}']")
    page.click("main button[type=submit]")
    expect(page).to_have_url(re.compile(r"/assessments/\d+/$"))
    page.goto(f"{url}/portal/compliance/")
    confirm = page.locator("form[action$='/compliance/suitability/'] button").first
    if confirm.count():
        confirm.click()
    page.goto(f"{url}/portal/compliance/disclosure/")
    page.click("main form button[type=submit]")
    # the declaration of positions in listed companies (none), from the onboarding steps
    page.goto(f"{url}/portal/")
    page.click("[data-step=restricted] a")
    page.click("button[value=declare_none]")
    page.goto(f"{url}/portal/")
    expect(page.locator("[data-step=restricted] .done")).to_be_visible()
    page.click("[data-step=credit] a")
    page.fill("#id_requested_limit", "300000")
    page.click("main form button[type=submit] >> nth=0")
    expect(page.locator(".message.success")).to_be_visible()

    # 4. four eyes: operations prepares (a colleague: an authenticator code is good once),
    # a risk officer approves
    from lending.models import CreditApplication

    application = CreditApplication.objects.get(investor__user__email=EMAIL)
    page.context.clear_cookies()
    sign_in_verified(page, staff["ops2"])
    page.goto(f"{url}/staff/lending/applications/{application.pk}/")
    page.select_option("#id_credit_grade", "B")
    page.select_option("#id_collateral_liquidity", "high")
    page.fill("#id_proposed_limit", "300000")
    page.fill("#id_proposed_term_months", "6")
    page.fill("#id_note", "assets verified")
    page.click("main form:has(input[value=prepare]) button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()
    page.context.clear_cookies()
    sign_in_verified(page, staff["risk"])
    page.goto(f"{url}/staff/lending/applications/{application.pk}/")
    page.select_option("#id_decision", "approve")
    page.fill("#id_reason", "within policy")
    page.click("main form:has(input[value=decide]) button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()
    account = CreditAccount.objects.get(investor__user__email=EMAIL)

    # 5. the first deposit: the bank statement's credit line, imported by treasury
    statement = tmp_path / "credits.csv"
    statement.write_text(
        "line_id,value_date,amount,currency,payer_name,payer_account,reference\n"
        f"ON-1,{today.isoformat()},200000.00,CNY,Li Hua,{BANK},{account.account_number}\n"
    )
    page.context.clear_cookies()
    sign_in_verified(page, make_user(Role.TREASURY))
    page.goto(f"{url}/staff/lending/bank-credits/")
    page.set_input_files("#id_file", str(statement))
    page.click("main form.card button[type=submit]")
    expect(page.locator(".message.success")).to_contain_text("1 credited")

    # 6. the investor sees the account and the deposit credited
    page.context.clear_cookies()
    sign_in(page, EMAIL, PASSWORD)
    page.goto(f"{url}/portal/")
    expect(page.locator("#figures h2")).to_contain_text(account.account_number)
    expect(page.locator("#deposits")).to_contain_text("Credited")
