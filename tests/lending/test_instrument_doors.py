"""Instruments have their doors: a risk officer adds one on the staff list (not eligible, no
haircut until set) and moves one to another category, which re-applies the category's dated
haircut cap; other roles are refused."""

from decimal import Decimal

import pytest

from lending.instruments.models import Instrument
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


def test_a_risk_officer_adds_an_instrument_and_changes_its_category(
    book_instruments, staff, client
):
    login_verified(client, staff["ops"])
    form = {
        "exchange": "SSE", "code": "601318", "name": "中国平安", "category": "index_constituent",
        "tradable_float": "10858000000", "lot_size": "100", "reason": "added to the list",
    }  # fmt: skip
    assert client.post("/staff/lending/instruments/", form).status_code == 403
    login_verified(client, staff["risk"])
    assert client.post("/staff/lending/instruments/", form).status_code == 302
    made = Instrument.objects.get(code="601318")
    assert (made.haircut, made.collateral_eligible, made.board) == (Decimal(0), False, "main")
    twice = client.post("/staff/lending/instruments/", form, HTTP_ACCEPT_LANGUAGE="en")
    assert twice.status_code == 400 and "SSE:601318 already exists" in twice.content.decode()

    moutai = book_instruments["SSE:600519"]  # index constituent at 0.70
    url = f"/staff/lending/instruments/{moutai.pk}/"
    answer = client.post(url, {"action": "category", "category": "other_a_share", "reason": "x"})
    assert answer.status_code == 302
    moutai.refresh_from_db()
    # the other A-share cap (0.65, dated parameter) is re-applied
    assert moutai.category == "other_a_share" and moutai.haircut == Decimal("0.65")
    assert "lowered to the cap 0.65" in moutai.history.first().history_change_reason


def test_instruments_are_added_and_recategorised_by_api(book_instruments, staff):
    from rest_framework.test import APIClient

    api = APIClient()
    body = {"exchange": "SZSE", "code": "000002", "name": "万科A", "category": "other_a_share",
            "tradable_float": "9700000000", "reason": "added"}  # fmt: skip
    api.force_authenticate(staff["auditor"])
    assert api.post("/api/v1/instruments/", body, format="json").status_code == 403
    api.force_authenticate(staff["risk"])
    made = api.post("/api/v1/instruments/", body, format="json")
    assert made.status_code == 201, made.content
    pk = Instrument.objects.get(code="000002").pk
    bad = api.post(f"/api/v1/instruments/{pk}/category/", {"category": "x", "reason": "r"},
                   format="json")  # fmt: skip
    assert bad.status_code == 400 and bad.json()["message"].startswith("category")
    ok = api.post(f"/api/v1/instruments/{pk}/category/", {"category": "etf", "reason": "r"},
                  format="json")  # fmt: skip
    assert ok.status_code == 200 and Instrument.objects.get(pk=pk).category == "etf"
