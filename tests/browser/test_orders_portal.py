"""Issue 16's browser acceptance: an investor places a financed buy in the portal, sees it
working, then (the exchange fills it: tests/support/market.py, as the FIX session's reports
would) filled, and the account page shows the new position and the debt. On a phone's width
the orders page does not scroll sideways (cards; wide tables scroll inside their card)."""

import re

import pytest
from playwright.sync_api import expect

from tests.support import market

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PINGAN = "SZSE:000001"


def test_investor_places_a_financed_buy_sees_it_working_then_filled(
    page, live_server, sign_in, funded_account
):
    from lending.orders.models import Order

    # deposit 1,000,000.00 and 2,000 own SSE:600519; no financing yet (fees of zero)
    account = funded_account(financed=())
    page.set_extra_http_headers({"Accept-Language": "en"})
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, account.investor.user.email)
    page.goto(f"{live_server.url}/portal/lending/account/")
    page.click("#orders-link")
    expect(page).to_have_url(re.compile(r"/portal/lending/orders/$"))
    expect(page.locator(f"#instruments tr[data-instrument='{PINGAN}']")).to_contain_text("10.00")
    page.select_option("#id_instrument", PINGAN)
    page.select_option("#id_purpose", "financed_buy")
    page.fill("#id_quantity", "1000")
    page.fill("#id_limit_price", "10.00")
    page.click("#order-form button[type=submit]")
    expect(page.locator(".message.success")).to_be_visible()
    order = Order.objects.get(credit_account=account, purpose="financed_buy")
    card = page.locator(f"article.order[data-order='{order.pk}']")
    expect(card).to_have_attribute("data-status", "new")
    expect(card.locator(".pill")).to_have_text("Working")
    expect(card.locator("button[type=submit]")).to_have_text("Cancel the order")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # the exchange fills it at the limit
    market.fill(order, price="10.00")
    page.reload()
    card = page.locator(f"article.order[data-order='{order.pk}']")
    expect(card).to_have_attribute("data-status", "filled")
    expect(card.locator(".pill")).to_have_text("Filled")
    expect(card.locator(".filled-quantity")).to_have_text("1,000")
    expect(card.locator("table.fills tbody tr")).to_have_count(1)
    expect(card.locator("button[type=submit]")).to_have_count(0)

    # the account page: the new position and the debt
    page.goto(f"{live_server.url}/portal/lending/account/")
    position = page.locator("table.data tbody tr", has_text=PINGAN).first
    expect(position).to_contain_text("1,000")
    debt = page.locator("tr", has=page.locator("th", has_text="Financing outstanding"))
    expect(debt.locator("td")).to_have_text(re.compile(r"^10,?000\.00$"))
