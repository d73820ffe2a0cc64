"""The investor's history on a phone (issue 20, item 5): at 390 px the page does not scroll
sideways in either language (the statement's table scrolls inside its own box), the filter
works and the CSV link downloads the same rows."""

import pytest
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_history_fits_a_phone_and_downloads_its_csv(
    page, live_server, sign_in, funded_account, language
):
    # deposit 1,000,000.00; own-cash 2,000 SSE:600519 @ 100.00; financed 30,000 SZSE:000001
    account = funded_account()
    page.set_extra_http_headers({"Accept-Language": language})
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, account.investor.user.email)
    page.goto(f"{live_server.url}/portal/lending/history/")
    # the deposit (cash), the own-cash buy (cash, shares), the financed buy (debt, shares)
    expect(page.locator("#history article[data-entry]")).to_have_count(3)
    expect(page.locator("#history article[data-entry] tbody tr")).to_have_count(5)
    bought = page.locator("#history article[data-category='financed_buy']")
    expect(bought).to_contain_text("10.00")
    expect(bought.locator("tr[data-account='financing'] td.num").first).to_have_text("+300,000.00")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # the CSV link carries the page's filter and downloads the same entries
    page.fill("#history-to", "2000-01-01")
    page.click("#history-filter button[type=submit]")
    expect(page.locator("#history article[data-entry]")).to_have_count(0)
    expect(page.locator("#history-empty")).to_be_visible()
    href = page.locator("#history-csv").get_attribute("href")
    assert "to=2000-01-01" in href and "format=csv" in href
    page.fill("#history-to", "")
    page.click("#history-filter button[type=submit]")
    response = page.request.get(page.locator("#history-csv").evaluate("a => a.href"))
    assert response.ok and response.headers["content-type"].startswith("text/csv")
    lines = response.body().decode("utf-8-sig").strip().splitlines()
    assert lines[0].startswith("entry_id,business_date,booked_at,category")
    assert len(lines) == 1 + 5
