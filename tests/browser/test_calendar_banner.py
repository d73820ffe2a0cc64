"""Issue 18's browser acceptance for the calendar: today (the known Shanghai calendar ends
on its last session of the year) a staff member sees the warning on the dashboard, naming the
year to enter, with the way to the calendar page."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_calendar_warning_is_on_the_dashboard_today(page, live_server, sign_in_verified, staff):
    from compliance import selectors

    horizon = selectors.calendar_horizon()
    # today (2026-12-05) the known calendar ends within the dated warning period (60 days)
    assert horizon.level == "warning", horizon
    page.set_extra_http_headers({"Accept-Language": "en"})
    sign_in_verified(page, staff["compliance"])
    page.goto(f"{live_server.url}/staff/")
    # the staff dashboard itself (its heading and its mark-to-market card), not another page
    expect(page.locator("h1")).to_have_text("Staff console")
    expect(page.locator("#mtm-runs")).to_be_visible()
    banner = page.locator("#calendar-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"enter the {horizon.next_year} holidays")
    banner.locator("a").click()
    expect(page.locator("h1")).to_be_visible()
    assert page.url.endswith("/staff/compliance/calendar/")
