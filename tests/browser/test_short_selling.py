"""Issue 22's browser acceptance: an investor shorts, sees the position and its restricted
proceeds, covers. In both languages, on a phone's width (the page does not scroll sideways).

The investor (deposit 50,000.00, fees of zero: short_desk) opens "Short selling", follows
"Place a short sale" to the order form, sells 1,000 SSE:600519 short at 20.00; the exchange
fills it (tests/support/market.py, as the FIX session's reports would). The short positions
page shows 1,000 owed, 20,000.00 owed and 20,000.00 of restricted proceeds. The price falls to
19.00: market value 19,000.00, profit 1,000.00. "Buy to cover" opens the order form prefilled;
a cover of 1,000 at 19.00 is filled: 19,000.00 paid from the restricted proceeds, the other
1,000.00 released to the cash, one day's lending fee on 20,000.00 = round(20,000 x 0.0835 /
360, 2) = 4.64 paid: no position, nothing restricted, cash 50,000 + 1,000 - 4.64 = 50,995.36.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.lending.book_fixtures import price_set
from tests.support import market

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

MOUTAI = "SSE:600519"

#: Labels already in the Chinese catalogue, one per language, checked on the pages.
LABELS = {
    "en": {"nav": "Short selling", "market_value": "Market value", "due": "Due on"},
    "zh-hans": {"nav": "融券卖出", "market_value": "市值", "due": "到期日"},
}


def _figure(page, field: str):
    return page.locator(f"#short-figures [data-field='{field}'] dd")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_investor_shorts_sees_the_position_and_its_restricted_proceeds_covers(
    page, live_server, sign_in, short_desk, short_account, language
):
    from lending.orders.models import Order

    labels = LABELS[language]
    account = short_account(deposit="50000")
    page.set_extra_http_headers({"Accept-Language": language})
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    sign_in(page, account.investor.user.email)

    # what can be shorted, then the order form for a short sale
    page.click(f"nav.subnav a:has-text('{labels['nav']}')")
    expect(page).to_have_url(re.compile(r"/portal/lending/shorts/$"))
    expect(page.locator(f"#shortable tr[data-instrument='{MOUTAI}']")).to_contain_text("10,000")
    page.click("#short-links a[href*='purpose=short_sale']")
    expect(page).to_have_url(re.compile(r"/portal/lending/orders/\?purpose=short_sale"))
    expect(page.locator("#id_purpose")).to_have_value("short_sale")
    page.select_option("#id_instrument", MOUTAI)
    page.fill("#id_quantity", "1000")
    page.fill("#id_limit_price", "20.00")
    page.click("#order-form button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()
    order = Order.objects.get(credit_account=account, purpose="short_sale")
    assert order.status == "new"

    # the exchange fills it; the positions page shows what is owed and restricted
    market.fill(order)
    page.goto(f"{live_server.url}/portal/lending/shorts/positions/")
    short = page.locator(f"article.short[data-instrument='{MOUTAI}']")
    expect(short.locator("[data-field='quantity']")).to_have_text("1,000")
    expect(short.locator("[data-field='sale-price']")).to_have_text("20.00")
    expect(short.locator("[data-field='short-sale-amount']")).to_have_text("20,000.00")
    expect(short.locator("[data-field='market-value']")).to_have_text("20,000.00")
    expect(short.locator("dt", has_text=labels["market_value"])).to_have_count(1)
    expect(short.locator("dt", has_text=labels["due"])).to_have_count(1)
    expect(short.locator("table.positions tbody tr")).to_have_count(1)
    expect(_figure(page, "short-proceeds")).to_have_text("20,000.00")
    expect(_figure(page, "short-margin-ratio")).to_have_text("100.00%")
    expect(_figure(page, "cash")).to_have_text("50,000.00")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # the price falls: the short gains
    price_set(short_desk, "19.00")
    page.reload()
    expect(short.locator("[data-field='market-value']")).to_have_text("19,000.00")
    expect(short.locator("[data-field='profit']")).to_have_text("1,000.00")

    # buy to cover from the page's link: the order form comes prefilled
    short.locator("a.cover-link").click()
    expect(page).to_have_url(re.compile(r"/portal/lending/orders/\?purpose=buy_to_cover"))
    expect(page.locator("#id_purpose")).to_have_value("buy_to_cover")
    expect(page.locator("#id_instrument")).to_have_value(MOUTAI)
    expect(page.locator("#id_quantity")).to_have_value("1000")
    page.fill("#id_limit_price", "19.00")
    page.click("#order-form button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()
    cover = Order.objects.get(credit_account=account, purpose="buy_to_cover")
    market.fill(cover)

    # no position, the proceeds released, the fee paid
    page.goto(f"{live_server.url}/portal/lending/shorts/positions/")
    expect(page.locator("#no-shorts")).to_be_visible()
    expect(page.locator("article.short")).to_have_count(0)
    expect(_figure(page, "short-proceeds")).to_have_text("0.00")
    expect(_figure(page, "lending-fees-owed")).to_have_text("0.00")
    expect(_figure(page, "cash")).to_have_text("50,995.36")
