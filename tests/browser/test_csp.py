"""The content security policy in Chromium: pages that run scripts (the staff console's
tables, the admin, Swagger UI) work with nothing blocked (tests/test_csp.py checks the header
and scans the HTML; this checks what the browser actually refuses)."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_docs_render_swagger_ui_under_the_policy(page, live_server, csp_violations):
    response = page.goto(f"{live_server.url}/api/docs/")
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    # Swagger UI is built by the init script served from /api/docs/?script
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("margindesk API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert csp_violations == []


def test_staff_console_and_admin_language_switch_under_the_policy(
    page, live_server, sign_in, make_user, csp_violations
):
    risk = make_user("risk")
    page.set_extra_http_headers({"Accept-Language": "en"})
    sign_in(page, risk.email)
    expect(page).to_have_url(re.compile(r"/staff/"))
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    page.select_option(".admin-langswitch select", "zh-hans")
    page.wait_for_load_state("networkidle")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    assert csp_violations == []
