import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_investor_signs_in_and_sees_masked_profile_in_both_languages(
    page, live_server, sign_in, make_investor, csp_violations
):
    profile = make_investor(id_number="110101198001011237", bank_account="6222020200998877665")
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    sign_in(page, profile.user.email)
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.locator("h1")).to_have_text("我的账户")
    body = page.content()
    assert "1101**********1237" in body
    assert "110101198001011237" not in body
    page.select_option("#language-select", "en")
    page.wait_for_load_state("networkidle")
    expect(page.locator("h1")).to_have_text("My account")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # the language switch runs from static/js/language.js: nothing was blocked on the way
    assert csp_violations == []


def test_staff_sign_in_lands_on_console_and_investor_is_kept_out(
    page, live_server, sign_in, make_user, csp_violations
):
    risk = make_user("risk")
    sign_in(page, risk.email)
    expect(page).to_have_url(re.compile(r"/staff/$"))
    expect(page.locator(".whoami")).to_have_text(risk.email)
    page.click(".toolbar button.link-button")  # sign out
    page.wait_for_load_state("networkidle")
    investor = make_user("investor")
    sign_in(page, investor.email)
    response = page.goto(f"{live_server.url}/staff/")
    assert response.status == 403
    assert csp_violations == []


def test_phone_width_layout_keeps_navigation_usable(page, live_server, sign_in, make_user):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, make_user("auditor").email)
    nav = page.locator(".subnav")
    expect(nav).to_be_visible()
    box = nav.bounding_box()
    assert box is not None and box["width"] <= 390
