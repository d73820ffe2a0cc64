"""Book API and pages: decimal strings, own accounts only (404), role permissions (403),
Idempotency-Key on money-moving writes."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from tests.compliance.fixtures import login_verified
from tests.lending.book_fixtures import trial_balance_is_zero

pytestmark = pytest.mark.django_db


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_instruments_and_prices_api(book_instruments, staff, make_user):
    rows = api(staff["ops"]).get("/api/v1/instruments/?category=etf").json()
    data = rows["results"] if isinstance(rows, dict) else rows
    assert [r["code"] for r in data] == ["510300"]
    assert data[0]["haircut"] == "0.9000" and data[0]["last_price"] == "4.0000"
    assert data[0]["eligible"] is True and data[0]["is_st"] is False
    now = timezone.now().isoformat()
    body = {"ticks": [{"instrument": "600519", "price": "101.00", "at": now}]}
    assert api(staff["risk"]).post("/api/v1/prices/", body, format="json").json() == {
        "accepted": 1,
        "ignored": 0,
    }
    assert api(staff["risk"]).post("/api/v1/prices/", body, format="json").json() == {
        "accepted": 0,
        "ignored": 1,
    }
    investor_user = make_user("investor")
    assert api(investor_user).post("/api/v1/prices/", body, format="json").status_code == 403


def test_credit_account_detail_own_only(funded_account, make_user):
    account = funded_account()
    other = funded_account(financed=())
    client = api(account.investor.user)
    assert [a["id"] for a in client.get("/api/v1/credit-accounts/").json()] == [account.pk]
    data = client.get(f"/api/v1/credit-accounts/{account.pk}/").json()
    assert data["cash"] == "800000.00" and data["financing_debt"] == "300000.00"
    assert data["accrued_interest"] == "0.00" and data["collateral_value"] == "335000.00"
    assert data["maintenance_ratio"] == "4.333333" and data["state"] == "normal"
    assert data["lines"] == {
        "warning": "1.400000",
        "call": "1.300000",
        "target": "1.500000",
        "withdrawal": "3.000000",
    }
    assert data["available_margin"] == "640000.00"
    assert data["withdrawable"]["cash"] == "400000.00"
    pos = {p["instrument"]: p for p in data["positions"]}
    assert pos["SZSE:000001"]["market_value"] == "300000.00"
    assert pos["SZSE:000001"]["haircut"] == "0.6500"
    assert client.get(f"/api/v1/credit-accounts/{other.pk}/").status_code == 404


def test_financed_order_and_withdrawal_api(funded_account, staff):
    from lending.orders.models import Order
    from tests.support import market

    account = funded_account()
    client = api(account.investor.user)
    url = f"/api/v1/credit-accounts/{account.pk}/orders/"
    body = {
        "instrument": "SZSE:000001",
        "purpose": "financed_buy",
        "quantity": "1000",
        "limit_price": "10.00",
    }
    assert client.post(url, body, format="json").status_code == 400  # no Idempotency-Key
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="d-1")
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "new" and first.json()["fills"] == []
    # placing books nothing: the order holds back its most possible cost until filled
    assert first.json()["reserved_amount"] == "10000.00"
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="d-1")
    assert again.json()["id"] == first.json()["id"]
    other = client.post(
        url, {**body, "quantity": "2000"}, format="json", HTTP_IDEMPOTENCY_KEY="d-1"
    )
    assert other.status_code == 409
    # 640,000 available, 10,000 of it held back by the first order: 631,000 more is refused
    too_much = client.post(
        url, {**body, "quantity": "63100"}, format="json", HTTP_IDEMPOTENCY_KEY="d-2"
    )
    assert too_much.status_code == 422 and too_much.json()["code"] == "insufficient_margin"
    # auditors read but may not place orders for the client
    assert (
        api(staff["auditor"]).post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="d-3").status_code
        == 403
    )
    # the exchange fills the order at 10.00 (no fees in this fixture)
    filled = market.fill(Order.objects.get(pk=first.json()["id"]))
    assert filled.status == "filled"
    w = f"/api/v1/credit-accounts/{account.pk}/withdrawals/"
    refused = client.post(
        w, {"kind": "cash", "amount": "500000"}, format="json", HTTP_IDEMPOTENCY_KEY="w-1"
    )
    assert refused.status_code == 422
    # 1,310,000 - 3 x 310,000 = 380,000
    assert refused.json()["extra"]["allowed"] == "380000.00"
    ok = client.post(
        w, {"kind": "cash", "amount": "1000"}, format="json", HTTP_IDEMPOTENCY_KEY="w-2"
    )
    assert ok.status_code == 201 and ok.json()["amount"] == "1000.00"
    assert trial_balance_is_zero()


def test_no_route_books_a_trade_at_a_typed_price(funded_account):
    """The typed-price drawdown route is gone (404), no API request body names an instrument,
    a quantity and a `price` (the shape of a trade at a typed price), and placing an order
    books nothing: only the exchange's execution reports book trades."""
    from drf_spectacular.generators import SchemaGenerator

    from custody.models import JournalEntry
    from lending.models import Financing

    account = funded_account()
    client = api(account.investor.user)
    gone = client.post(
        f"/api/v1/credit-accounts/{account.pk}/drawdowns/",
        {"instrument": "SZSE:000001", "quantity": "1000", "price": "10.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="old-1",
    )
    assert gone.status_code in (404, 405)

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    def properties(node) -> set:
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        found = set(node.get("properties", {}))
        for part in node.get("allOf", []) + node.get("oneOf", []):
            found |= properties(part)
        return found

    typed = []
    for route, operations in schema["paths"].items():
        assert "drawdown" not in route
        for method, operation in operations.items():
            if method not in ("post", "put", "patch"):
                continue
            for content in operation.get("requestBody", {}).get("content", {}).values():
                fields = properties(content["schema"])
                if {"instrument", "quantity", "price"} <= fields:
                    typed.append(f"{method.upper()} {route}")
    assert typed == []

    entries, financings = JournalEntry.objects.count(), Financing.objects.count()
    placed = client.post(
        f"/api/v1/credit-accounts/{account.pk}/orders/",
        {"instrument": "SZSE:000001", "purpose": "financed_buy", "quantity": "1000",
         "limit_price": "10.00", "price": "9.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="typed-1",
    )  # fmt: skip
    assert placed.status_code == 201 and placed.json()["status"] == "new"
    assert (JournalEntry.objects.count(), Financing.objects.count()) == (entries, financings)


def test_portal_account_page_and_withdrawal_form(funded_account, client):
    account = funded_account()
    client.force_login(account.investor.user)
    page = client.get("/portal/lending/account/")
    assert page.status_code == 200 and account.account_number in page.content.decode()
    refused = client.post(
        "/portal/lending/account/", {"amount": "400000.01", "idempotency_key": "abc"}
    )
    assert refused.status_code == 400 and "400,000.00" in refused.content.decode()
    done = client.post("/portal/lending/account/", {"amount": "100", "idempotency_key": "abd"})
    assert done.status_code == 302


def test_portal_transfers_own_shares_out_within_the_withdrawal_line(funded_account, client):
    # given the default funded account: 2,000 own MOUTAI (bought with own cash) and 30,000
    # PINGAN bought with financing (not the investor's to take out)
    from custody import selectors as custody_selectors
    from custody import services as custody
    from lending.models import WithdrawalRequest

    account = funded_account()
    client.force_login(account.investor.user)
    page = client.get("/portal/lending/account/").content.decode()
    assert 'value="SSE:600519"' in page and 'value="SZSE:000001"' not in page
    url = "/portal/lending/account/"
    moutai = custody.client_account(account.investor, "client_securities", "SSE:600519")

    # financed shares are not offered; more than the own shares is refused with the largest
    refused = client.post(
        url,
        {"action": "securities", "instrument": "SSE:600519", "quantity": "2001",
         "idempotency_key": "s-1"},
    )  # fmt: skip
    assert refused.status_code == 400 and "最多可转出 2,000 股" in refused.content.decode()
    financed = client.post(
        url,
        {"action": "securities", "instrument": "SZSE:000001", "quantity": "100",
         "idempotency_key": "s-2"},
    )  # fmt: skip
    assert financed.status_code == 400
    assert not WithdrawalRequest.objects.filter(credit_account=account).exists()

    # when the investor transfers 500 out, twice with the same form (a double click)
    form = {"action": "securities", "instrument": "SSE:600519", "quantity": "500",
            "reason": "to my other broker", "idempotency_key": "s-3"}  # fmt: skip
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302

    # then one transfer of 500 is booked, shown in the page's recent withdrawals
    [done] = WithdrawalRequest.objects.filter(credit_account=account)
    assert (done.kind, done.quantity, done.requested_by) == (
        "securities",
        500,
        account.investor.user,
    )
    assert custody_selectors.account_balance(account=moutai) == 1500
    assert "to my other broker" in client.get(url).content.decode()
    assert trial_balance_is_zero()


def test_staff_instrument_pages(book_instruments, staff, client):
    login_verified(client, staff["risk"])
    assert client.get("/staff/lending/instruments/?category=etf").status_code == 200
    moutai = book_instruments["SSE:600519"]
    url = f"/staff/lending/instruments/{moutai.pk}/"
    assert client.get(url).status_code == 200
    refused = client.post(
        url, {"action": "haircut", "haircut": "0.80", "reason": "x", "collateral_eligible": "on"}
    )
    assert refused.status_code == 400 and "70.00%" in refused.content.decode()
    assert (
        client.post(url, {"action": "flags", "is_st": "on", "reason": "ST notice"}).status_code
        == 302
    )
    moutai.refresh_from_db()
    assert moutai.is_st and moutai.haircut == Decimal(0)
    upload = SimpleUploadedFile(
        "p.csv", f"instrument,price,at\nSSE:510300,4.100,{timezone.now().isoformat()}\n".encode()
    )
    assert client.post("/staff/lending/prices/upload/", {"file": upload}).status_code == 302
