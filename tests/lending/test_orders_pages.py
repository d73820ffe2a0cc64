"""Orders pages: the portal page (place with a per-form idempotency key, refusals shown on the
field they name, own orders only, cancel a working one) and the staff page (every order,
filters; the auditor reads but may not cancel, a risk officer cancels)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from lending.instruments import selectors as instrument_selectors
from lending.instruments import services as instruments_services
from lending.orders import services
from lending.orders.models import Order
from tests.compliance.fixtures import login_verified
from tests.support import market

pytestmark = pytest.mark.django_db

PINGAN = "SZSE:000001"
PAGE = "/portal/lending/orders/"


def order_form(**overrides):
    data = {
        "instrument": PINGAN,
        "purpose": "financed_buy",
        "quantity": "1000",
        "limit_price": "10.00",
        "reason": "",
        "idempotency_key": "form-1",
    }
    return {**data, **overrides}


def placed(account, quantity="1000", key=None):
    from lending.instruments.models import Instrument

    return services.order_place(
        credit_account=account,
        instrument=Instrument.objects.get(exchange="SZSE", code="000001"),
        purpose="financed_buy",
        quantity=Decimal(quantity),
        limit_price=Decimal("10.00"),
        actor=account.investor.user,
        idempotency_key=key or f"pages-{account.pk}-{quantity}",
    )


def test_portal_page_shows_the_form_the_band_and_only_own_orders(funded_account, client):
    mine = funded_account()
    theirs = funded_account(financed=())
    today = timezone.localdate()
    instruments_services.prices_ingest(
        [
            {
                "instrument": PINGAN,
                "price": "10.00",
                "at": instrument_selectors.day_start(today) - timedelta(hours=9),
            }
        ],
        source="test",
        actor=None,
    )
    own = placed(mine)
    other = placed(theirs, quantity="200")
    client.force_login(mine.investor.user)
    page = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="idempotency_key"' in html and 'name="limit_price"' in html
    assert "9.00 – 11.00" in html  # PINGAN's band today
    assert f'data-order="{own.pk}"' in html and f'data-order="{other.pk}"' not in html
    assert own.client_order_id in html and "Cancel the order" in html
    # the filters
    assert f'data-order="{own.pk}"' not in client.get(PAGE + "?status=filled").content.decode()
    assert f'data-order="{own.pk}"' in client.get(PAGE + "?status=working").content.decode()


def test_portal_places_once_per_form_and_shows_fills(funded_account, client):
    account = funded_account()
    client.force_login(account.investor.user)
    first = client.post(PAGE, order_form())
    assert first.status_code == 302
    again = client.post(PAGE, order_form())  # the button pressed twice
    assert again.status_code == 302
    orders = Order.objects.filter(credit_account=account, status="new")
    assert orders.count() == 1
    market.fill(orders.get(), price="9.99")
    html = client.get(PAGE).content.decode()
    assert 'data-status="filled"' in html and "9.99" in html
    assert "Cancel the order" not in html


def test_portal_shows_a_refusal_on_the_field_it_names(funded_account, client):
    account = funded_account()
    instruments_services.prices_ingest(
        [
            {
                "instrument": PINGAN,
                "price": "10.00",
                "at": instrument_selectors.day_start(timezone.localdate()) - timedelta(hours=9),
            }
        ],
        source="test",
        actor=None,
    )
    client.force_login(account.investor.user)
    before = Order.objects.count()
    refused = client.post(PAGE, order_form(limit_price="0.01"), HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 400
    form = refused.context["form"]
    assert form.errors["limit_price"][0].startswith("limit_price: 0.01 is outside the day's band")
    beyond = client.post(
        PAGE, order_form(quantity="65000", idempotency_key="form-2"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert beyond.status_code == 400
    assert beyond.context["form"].errors["quantity"][0].startswith("amount: available margin")
    lots = client.post(PAGE, order_form(quantity="150", idempotency_key="form-3"))
    assert lots.status_code == 400 and "quantity" in lots.context["form"].errors
    assert Order.objects.count() == before


def test_portal_cancels_own_working_order_and_not_anothers(funded_account, client):
    mine = funded_account()
    theirs = funded_account(financed=())
    own = placed(mine)
    other = placed(theirs, quantity="200")
    client.force_login(mine.investor.user)
    assert client.post(f"/portal/lending/orders/{other.pk}/cancel/").status_code == 404
    done = client.post(f"/portal/lending/orders/{own.pk}/cancel/")
    assert done.status_code == 302
    own.refresh_from_db()
    other.refresh_from_db()
    assert own.status == "cancelled" and own.reserved_amount == 0
    assert other.status == "new"
    # a finished order cannot be cancelled: the page says why
    again = client.post(
        f"/portal/lending/orders/{own.pk}/cancel/", follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "only a working order can be cancelled" in again.content.decode()


def test_staff_orders_page_auditor_reads_risk_cancels(funded_account, staff, client):
    first = funded_account()
    second = funded_account(financed=())
    a = placed(first)
    b = placed(second, quantity="200")
    login_verified(client, staff["auditor"])
    page = client.get("/staff/lending/orders/")
    assert page.status_code == 200
    html = page.content.decode()
    assert a.client_order_id in html and b.client_order_id in html
    assert f'action="/staff/lending/orders/{a.pk}/cancel/"' not in html
    only = client.get(f"/staff/lending/orders/?account={second.account_number}&status=working")
    assert b.client_order_id in only.content.decode()
    assert a.client_order_id not in only.content.decode()
    filled = client.get("/staff/lending/orders/?status=filled").content.decode()
    assert a.client_order_id not in filled
    # the auditor may read but not cancel
    assert client.post(f"/staff/lending/orders/{a.pk}/cancel/").status_code == 403
    a.refresh_from_db()
    assert a.status == "new" and a.cancel_requested_at is None
    # a risk officer (lending.change_order, second factor) cancels
    client.logout()
    login_verified(client, staff["risk"])
    assert (
        f'action="/staff/lending/orders/{a.pk}/cancel/"'
        in client.get("/staff/lending/orders/").content.decode()
    )
    done = client.post(f"/staff/lending/orders/{a.pk}/cancel/", {"reason": "client asked"})
    assert done.status_code == 302
    a.refresh_from_db()
    assert a.status == "cancelled"


def test_staff_page_is_closed_to_investors(funded_account, client):
    account = funded_account()
    order = placed(account)
    client.force_login(account.investor.user)
    assert client.get("/staff/lending/orders/").status_code in (302, 403)
    assert client.post(f"/staff/lending/orders/{order.pk}/cancel/").status_code in (302, 403)
    order.refresh_from_db()
    assert order.status == "new"


def test_nav_and_account_page_link_to_the_orders_page(funded_account, client):
    account = funded_account()
    client.force_login(account.investor.user)
    html = client.get("/portal/lending/account/").content.decode()
    assert html.count('href="/portal/lending/orders/"') == 2  # the nav and the page
