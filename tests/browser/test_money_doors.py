"""Issue 17's browser acceptance, in Chromium: treasury imports the client bank account's
credit lines and the investor's deposit is credited; the investor repays from cash on the
account page and sees the debt fall."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.roles import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_treasury_imports_bank_credits_and_the_investor_repays(
    page, live_server, sign_in, sign_in_verified, funded_account, make_user, tmp_path
):
    from lending.financing.models import BankCredit
    from lending.financing.valuation import account_view

    account = funded_account()  # debt 300,000.00, cash 800,000.00
    page.set_extra_http_headers({"Accept-Language": "en"})
    treasury = make_user(Role.TREASURY)
    sign_in_verified(page, treasury)
    statement = tmp_path / "icbc-credits.csv"
    statement.write_text(
        "line_id,value_date,amount,currency,payer_name,payer_account,reference\n"
        f"B-1,{timezone.localdate().isoformat()},25000.00,CNY,Investor,"
        f"{account.investor._test_bank_account},deposit {account.account_number}\n"
    )
    page.goto(f"{live_server.url}/staff/lending/bank-credits/")
    page.set_input_files("#id_file", str(statement))
    page.click("main form.card button[type=submit]")
    expect(page.locator(".message.success")).to_contain_text("1 credited")
    expect(page.locator("table.data tbody tr").first).to_contain_text("Credited to the investor")
    assert BankCredit.objects.get().status == "credited"
    assert account_view(account).cash == 825000

    page.context.clear_cookies()
    sign_in(page, account.investor.user.email)
    page.goto(f"{live_server.url}/portal/lending/account/")
    debt = page.locator("table.data tr", has_text="Financing outstanding").first
    expect(debt).to_contain_text("300,000.00")
    repay = page.locator("form", has=page.locator("input[name=action][value=repay]"))
    repay.locator("input[name=amount]").fill("100000.00")
    repay.locator("button[type=submit]").click()
    expect(page.locator(".message.success")).to_be_visible()
    debt = page.locator("table.data tr", has_text="Financing outstanding").first
    expect(debt).to_contain_text("200,000.00")
    assert account_view(account).financing_debt == 200000
