"""The investor's doors to short positions (融券, issue 22): the API (GET the account's short
positions, POST a direct return) and the portal page /portal/lending/shorts/positions/ with
its direct-return form, the order form's short sale and buy to cover, the home page's short
figures. Fees of zero (short_desk), SSE:600519 at 20.00, short margin ratio 100 per cent,
lending fee 8.35 per cent a year, ACT/360.

Worked by hand:
    deposit 100,000.00; short sale 1,000 @ 20.00 -> restricted proceeds 20,000.00, owes 1,000
    price 24.00: market value 24,000.00, profit 20,000 - 24,000 = -4,000.00
    own-cash buy 600 @ 24.00 (cash 100,000 - 14,400 = 85,600.00), then return 600 directly,
    opened and returned today: 600/1,000 of 20,000.00 = 12,000.00 released; one day's fee on
    12,000.00 = round(12,000 x 0.0835 / 360, 2) = 2.78 paid from cash;
    left: 400 owed, 8,000.00 owed and restricted, cash 85,600 + 12,000 - 2.78 = 97,597.22
"""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from lending.orders.models import Order, OrderStatus
from lending.shorts.models import ShortPosition
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal
PAGE = "/portal/lending/shorts/positions/"


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def shorted(short_desk, short_account):
    """An account that sold 1,000 SSE:600519 short at 20.00, the price now 24.00."""
    account = short_account(deposit="100000")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    price_set(short_desk, "24.00")
    return account


def test_the_api_lists_the_short_positions_as_worked_by_hand(shorted, staff, make_user):
    url = f"/api/v1/credit-accounts/{shorted.pk}/short-positions/"
    response = _api(shorted.investor.user).get(url)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["short_proceeds"] == "20000.00" and data["lending_fees_owed"] == "0.00"
    assert D(data["short_margin_ratio"]) == 1
    assert (data["short_sale_amount"], data["short_market_value"]) == ("20000.00", "24000.00")
    (row,) = data["instruments"]
    assert row["instrument"] == "SSE:600519" and row["quantity"] == "1000"
    assert (row["sale_price"], row["price"]) == ("20.00", "24.00")
    assert (row["market_value"], row["profit"]) == ("24000.00", "-4000.00")
    (position,) = row["positions"]
    assert position["quantity_outstanding"] == "1000"
    assert position["amount_outstanding"] == "20000.00" and position["fee_rate"] == "0.0835"
    assert row["due_on"] == position["due_on"]
    # staff with lending.view_shortposition read it; another investor does not see it (404); a
    # user with neither a profile nor the permission is refused (403)
    assert _api(staff["auditor"]).get(url).status_code == 200
    assert _api(make_user("investor")).get(url).status_code == 403  # no profile yet
    assert _api(make_user("price_feed")).get(url).status_code == 403


def test_another_investors_account_answers_404(shorted, short_account):
    other = short_account(deposit="1000")
    url = f"/api/v1/credit-accounts/{shorted.pk}/short-positions/"
    assert _api(other.investor.user).get(url).status_code == 404
    post = _api(other.investor.user).post(
        f"/api/v1/credit-accounts/{shorted.pk}/short-returns/",
        {"instrument": "SSE:600519", "quantity": "100"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-1",
    )
    assert post.status_code == 404


def test_direct_return_through_the_api(shorted, short_desk):
    market.traded(shorted, short_desk, "cash_buy", 600, "24.00")
    api = _api(shorted.investor.user)
    url = f"/api/v1/credit-accounts/{shorted.pk}/short-returns/"
    body = {"instrument": "SSE:600519", "quantity": "600", "reason": "return"}
    missing = api.post(url, body, format="json")
    assert missing.status_code == 400 and missing.json()["message"].startswith("Idempotency-Key")
    too_many = api.post(url, {**body, "quantity": "700"}, format="json", HTTP_IDEMPOTENCY_KEY="x")
    assert too_many.status_code == 422 and too_many.json()["extra"]["field"] == "quantity"
    done = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert done.status_code == 201, done.content
    data = done.json()
    assert (data["quantity"], data["proceeds_released"], data["fees_paid"]) == (
        "600",
        "12000.00",
        "2.78",
    )
    after = data["short_positions"]
    assert after["short_proceeds"] == "8000.00" and after["instruments"][0]["quantity"] == "400"
    repeat = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert repeat.status_code == 201 and repeat.json()["entry"] == data["entry"]
    other = api.post(url, {**body, "quantity": "100"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert other.status_code == 409
    position = ShortPosition.objects.get(credit_account=shorted)
    assert (position.quantity_outstanding, position.amount_outstanding) == (D(400), D("8000.00"))
    view = api.get(f"/api/v1/credit-accounts/{shorted.pk}/").json()
    assert view["cash"] == "97597.22"
    assert trial_balance_is_zero()


def test_the_permission_is_checked_before_the_body(shorted, staff):
    """The auditor (reads, never writes) gets 403 whatever the body; nothing moves."""
    url = f"/api/v1/credit-accounts/{shorted.pk}/short-returns/"
    auditor = _api(staff["auditor"])
    for body in ({}, [], "x", {"instrument": "SSE:600519", "quantity": "100"}):
        response = auditor.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="a-1")
        assert response.status_code == 403, (body, response.content)
    assert ShortPosition.objects.get(credit_account=shorted).quantity_outstanding == 1000


def test_a_body_that_is_not_an_object_is_a_400(shorted):
    api = _api(shorted.investor.user)
    url = f"/api/v1/credit-accounts/{shorted.pk}/short-returns/"
    for body in ([], [1, 2], "x", 1, None, {"instrument": ["SSE:600519"], "quantity": "1"}):
        response = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="n-1")
        assert response.status_code == 400, (body, response.content)
    bad = api.post(url, {"instrument": "SSE:600519", "quantity": "1.5"}, format="json",
                   HTTP_IDEMPOTENCY_KEY="n-2")  # fmt: skip
    assert bad.status_code == 400 and bad.json()["extra"]["field"] == "quantity"


# --- the portal ---------------------------------------------------------------------------------


def test_the_page_shows_the_position_and_the_restricted_proceeds(shorted, client):
    client.force_login(shorted.investor.user)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("20,000.00", "24,000.00", "-4,000.00", "1,000", "100.00%", "8.35%"):
        assert text in html, text
    assert 'data-instrument="SSE:600519"' in html
    assert "?purpose=buy_to_cover&amp;instrument=SSE%3A600519&amp;quantity=1000" in html
    assert "idempotency_key" in html
    position = ShortPosition.objects.get(credit_account=shorted)
    assert f'href="/portal/lending/shorts/positions/{position.pk}/extend/"' in html
    chinese = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "市值" in chinese and "到期日" in chinese and "20,000.00" in chinese
    home = client.get("/portal/").content.decode()
    assert 'data-field="short-proceeds"' in home and "24,000.00" in home
    nav = client.get("/portal/lending/shorts/").content.decode()
    assert PAGE in nav


def test_the_page_without_shorts_and_its_link_in_the_navigation(short_account, client):
    account = short_account(deposit="1000")
    client.force_login(account.investor.user)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'id="no-shorts"' in page.content.decode()
    assert 'id="direct-return"' not in page.content.decode()
    assert f'href="{PAGE}"' in client.get("/portal/").content.decode()


def test_direct_return_through_the_page_shows_refusals_on_their_field(shorted, short_desk, client):
    market.traded(shorted, short_desk, "cash_buy", 600, "24.00")
    client.force_login(shorted.investor.user)
    body = {"instrument": "SSE:600519", "quantity": "700", "idempotency_key": "p-1"}
    refused = client.post(PAGE, body)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'id="error-quantity"' in html and "600" in html
    done = client.post(PAGE, {**body, "quantity": "600", "idempotency_key": "p-2"}, follow=True)
    assert done.status_code == 200
    assert "12,000.00" in done.content.decode()  # the message: proceeds released
    assert ShortPosition.objects.get(credit_account=shorted).quantity_outstanding == 400
    again = client.post(PAGE, {**body, "quantity": "600", "idempotency_key": "p-2"})
    assert again.status_code == 302
    assert ShortPosition.objects.get(credit_account=shorted).quantity_outstanding == 400


def test_the_order_form_offers_short_sale_and_buy_to_cover(short_desk, short_account, client):
    account = short_account(deposit="50000")
    client.force_login(account.investor.user)
    form = client.get(
        "/portal/lending/orders/?purpose=buy_to_cover&instrument=SSE:600519&quantity=1000"
    ).content.decode()
    assert '<option value="short_sale">' in form
    assert '<option value="buy_to_cover" selected>' in form
    assert '<option value="buy_in"' not in form and '<option value="liquidation"' not in form
    assert 'value="1000"' in form
    assert '<option value="SSE:600519" selected>' in form
    placed = client.post(
        "/portal/lending/orders/",
        {
            "instrument": "SSE:600519",
            "purpose": "short_sale",
            "quantity": "1000",
            "limit_price": "20.00",
            "idempotency_key": "o-1",
        },
    )
    assert placed.status_code == 302, placed.content.decode()[:2000]
    order = Order.objects.get(credit_account=account, purpose="short_sale")
    market.fill(order)
    below = client.post(
        "/portal/lending/orders/",
        {
            "instrument": "SSE:600519",
            "purpose": "buy_to_cover",
            "quantity": "2000",
            "limit_price": "20.00",
            "idempotency_key": "o-2",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert below.status_code == 400  # more than owed: on the quantity field
    assert "exceed" in below.content.decode()
    cover = client.post(
        "/portal/lending/orders/",
        {
            "instrument": "SSE:600519",
            "purpose": "buy_to_cover",
            "quantity": "1000",
            "limit_price": "20.00",
            "idempotency_key": "o-3",
        },
    )
    assert cover.status_code == 302
    order = market.fill(Order.objects.get(credit_account=account, purpose="buy_to_cover"))
    assert order.status == OrderStatus.FILLED
    assert not ShortPosition.objects.filter(credit_account=account, status="open").exists()
    page = client.get(PAGE).content.decode()
    assert 'id="no-shorts"' in page
