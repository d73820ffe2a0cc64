"""The exchanges' lists (issue 18, item 3): each day's eligible-collateral list (a conversion
rate per security) and financing target list, imported with their source file; the haircut
in force is the lowest of the desk's, the exchange's rate and the category's dated cap; a
security that leaves the target list gets no new financing (own-cash buys and sales go on).

funded_account (tests/lending/book_fixtures.py): 2,000 SSE:600519 own at 100.00 (desk haircut
0.70, index-constituent cap 0.70), 30,000 SZSE:000001 financed at 10.00 (0.65); cash 800,000;
available margin = 800,000 + 200,000 x 0.70 - 300,000 x 1.00 = 640,000.00."""

import hashlib
import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.errors import PermissionDenied, ValidationFailed
from lending.financing.valuation import account_view
from lending.instruments import exchange_lists
from lending.instruments import selectors as instruments_selectors
from lending.instruments import services as instruments_services
from lending.instruments.models import ExchangeListEntry, ExchangeListImport
from lending.orders.models import Order
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

D = Decimal
MOUTAI, PINGAN, ETF, CATL = "SSE:600519", "SZSE:000001", "SSE:510300", "SZSE:300750"


def _import(content, *, exchange="SSE", kind="eligible_collateral", on=None, actor=None,
            name="list.csv"):  # fmt: skip
    return exchange_lists.exchange_list_import(
        exchange=exchange,
        kind=kind,
        effective_on=on or timezone.localdate(),
        file_name=name,
        content=content,
        actor=actor,
        reason="daily list",
    )


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- the import ---------------------------------------------------------------------------------


def test_an_import_keeps_its_file_and_hash_and_reports_unknown_codes(book_instruments, staff):
    # a byte-order mark, a percentage rate, a code with its exchange, a code the desk lacks
    raw = "\ufeffcode,conversion_rate\r\n600519,0.60\r\nSSE:510300,85%\r\n600999,0.50\r\n"
    raw = raw.encode("utf-8")
    made, created = _import(raw, actor=staff["risk"], name="C:\\drop\\sse-rzrq-20261205.csv")
    assert created and made.row_count == 3 and made.unknown_codes == ["600999"]
    assert made.sha256 == hashlib.sha256(raw).hexdigest()
    assert made.content.encode("utf-8") == raw  # the stored file is the very file hashed
    assert made.file_name == "sse-rzrq-20261205.csv" and made.imported_by == staff["risk"]
    entries = {e.code: (e.instrument_id, e.conversion_rate) for e in made.entries.all()}
    assert entries == {
        "600519": (book_instruments[MOUTAI].pk, D("0.6000")),
        "510300": (book_instruments[ETF].pk, D("0.8500")),  # 85% -> 0.85
        "600999": (None, D("0.5000")),  # unknown: kept, reported
    }
    history = made.history.get()
    assert history.history_user == staff["risk"]
    assert "sse-rzrq-20261205.csv (3 rows, 1 unknown): daily list" in history.history_change_reason

    # the same file for the same day is the same import
    again, created = _import(raw, actor=staff["risk"], name="again.csv")
    assert (again.pk, created) == (made.pk, False)
    assert ExchangeListImport.objects.count() == 1 and ExchangeListEntry.objects.count() == 3


def test_a_bad_file_is_refused_whole_naming_each_bad_line(book_instruments, staff):
    bad = (
        "code,conversion_rate\n"
        "600519,0.60\n"  # line 2: fine
        "510300,1.5\n"  # line 3: not a fraction
        "600519,0.55\n"  # line 4: listed twice
        "SZSE:000001,0.50\n"  # line 5: another exchange's code
        "60$519,0.50\n"  # line 6: not a code
        "510300,0.12345\n"  # line 7: five places
        "平安,0.50\n"  # line 8: not an exchange code
    )
    with pytest.raises(ValidationFailed) as refused:
        _import(bad, actor=staff["risk"])
    message = refused.value.message
    assert message.startswith("file: line 3: conversion rate 1.5 is not a fraction")
    for expected in (
        "line 4: code 600519 is listed twice (first on line 2)",
        "line 5: code 'SZSE:000001' is of SZSE, not of SSE",
        "line 6: code '60$519' is not a security code",
        "line 7: conversion rate 0.12345 has more than 4 decimal places",
        "line 8: code '平安' is not a security code",
    ):
        assert expected in message
    assert [e["line"] for e in refused.value.extra["errors"]] == [3, 4, 5, 6, 7, 8]
    assert ExchangeListImport.objects.count() == 0 and ExchangeListEntry.objects.count() == 0

    refusals = {
        "a header without rates": ("code\n600519\n", "file: line 1: the header must name"),
        "an empty list": ("code,conversion_rate\n", "file: no securities listed"),
        "not UTF-8": (b"code,conversion_rate\n\xb9\xf3\xd6\xdd,0.5\n", "file: not UTF-8"),
    }
    for content, start in refusals.values():
        with pytest.raises(ValidationFailed) as refused:
            _import(content, actor=staff["risk"])
        assert refused.value.message.startswith(start), refused.value.message
    yesterday = timezone.localdate() - timedelta(days=1)
    with pytest.raises(ValidationFailed) as refused:
        _import("code,conversion_rate\n600519,0.6\n", actor=staff["risk"], on=yesterday)
    assert refused.value.extra["field"] == "effective_on"
    assert "is in the past" in refused.value.message
    with pytest.raises(ValidationFailed) as refused:
        _import("code\n600519\n", actor=staff["risk"], kind="no_such_list")
    assert refused.value.extra["field"] == "kind"
    with pytest.raises(PermissionDenied):
        _import("code,conversion_rate\n600519,0.6\n", actor=staff["ops"])
    assert ExchangeListImport.objects.count() == 0

    # the exchanges' own header and code suffix are read
    made, _created = _import(
        "证券代码,折算率\n000001.SZ,65%\n", exchange="SZSE", actor=staff["risk"]
    )
    assert [(e.code, e.conversion_rate) for e in made.entries.all()] == [("000001", D("0.65"))]


# --- the haircut in force -----------------------------------------------------------------------


def test_the_haircut_in_force_is_the_lowest_of_desk_exchange_and_cap(funded_account, staff):
    account = funded_account()
    assert account_view(account).available_margin == D("640000.00")
    ping_an = instruments_services.instrument_create(
        code="601318", exchange="SSE", name="中国平安", category="index_constituent",
        tradable_float=10_000_000_000, collateral_eligible=True, haircut=D("0.50"),
        actor=None, reason="test",
    )  # fmt: skip
    # SSE's list from tomorrow: 600519 at 0.60, ETF 0.95 (above the desk's 0.90 and its cap
    # 0.90), 601318 left out
    tomorrow = timezone.localdate() + timedelta(days=1)
    _import("code,conversion_rate\n600519,0.60\n510300,0.95\n", on=tomorrow, actor=staff["risk"])
    assert account_view(account).available_margin == D("640000.00")  # not yet
    noon = timezone.make_aware(timezone.datetime.combine(tomorrow, timezone.datetime.min.time()))
    # from its day: 800,000 + 200,000 x 0.60 - 300,000 = 620,000
    later = account_view(account, as_of=noon + timedelta(hours=12))
    assert later.available_margin == D("620000.00")

    _import("code,conversion_rate\n600519,0.60\n510300,0.95\n", actor=staff["risk"])  # today
    view = account_view(account)
    assert view.available_margin == D("620000.00")
    assert view.collateral_row(MOUTAI).haircut == D("0.60")
    # no SZSE list in force: the desk's 0.65 (= the other A-share cap) stands alone
    assert view.financed_row(PINGAN).haircut == D("0.65")

    instruments = {i.ledger_unit: i for i in instruments_selectors.instruments()}
    in_force = instruments_selectors.haircuts_in_force(instruments.values())
    moutai = in_force[instruments[MOUTAI].pk]
    assert (moutai.value, moutai.sources) == (D("0.60"), ("exchange",))
    etf = in_force[instruments[ETF].pk]  # the desk may be stricter, never looser
    assert (etf.value, etf.exchange, etf.sources) == (D("0.90"), D("0.95"), ("desk", "cap"))
    off = in_force[ping_an.pk]  # off the exchange's list in force: 0
    assert (off.value, off.desk, off.exchange, off.sources) == (
        D(0),
        D("0.50"),
        D(0),
        ("exchange",),
    )
    pingan = in_force[instruments[PINGAN].pk]
    assert (pingan.value, pingan.exchange, pingan.sources) == (D("0.65"), None, ("desk", "cap"))

    # a list leaving 600519 out takes its margin credit away: 800,000 - 300,000 = 500,000
    _import("code,conversion_rate\n510300,0.95\n", actor=staff["risk"], name="fix.csv")
    assert account_view(account).available_margin == D("500000.00")


# --- the financing target list: acceptance ------------------------------------------------------


def _portal_order(client, unit, purpose, key, quantity="100", price="10.00"):
    return client.post(
        "/portal/lending/orders/",
        {"instrument": unit, "purpose": purpose, "quantity": quantity, "limit_price": price,
         "idempotency_key": key, "reason": ""},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip


def _api_order(account, unit, purpose, key, quantity="100", price="10.00"):
    return _api(account.investor.user).post(
        f"/api/v1/credit-accounts/{account.pk}/orders/",
        {"instrument": unit, "purpose": purpose, "quantity": quantity, "limit_price": price},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_security_leaving_the_target_list_gets_no_new_financing(funded_account, staff, client):
    account = funded_account()  # its financed buy of 000001 came before any list: the desk's
    orders = Order.objects.count()
    # SZSE's target list from today leaves 000001 out
    target, _created = _import("code\n300750\n", exchange="SZSE", kind="financing_target",
                               actor=staff["risk"], name="szse-rzbd.csv")  # fmt: skip

    login_verified(client, account.investor.user)
    page = client.get("/portal/lending/orders/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    rows = dict(re.findall(r'<tr data-instrument="([^"]+)">(.*?)</tr>', page))
    assert rows[PINGAN].endswith("<td>No</td>") and rows[CATL].endswith("<td>Yes</td>")
    refused = _portal_order(client, PINGAN, "financed_buy", "t-1")
    assert refused.status_code == 400
    assert (
        "SZSE:000001 is not on the SZSE financing target list in force (from "
        f"{timezone.localdate().isoformat()}, file szse-rzbd.csv): no new financing"
    ) in refused.content.decode()
    by_api = _api_order(account, PINGAN, "financed_buy", "t-2")
    assert by_api.status_code == 422, by_api.content
    body = by_api.json()
    assert body["code"] == "not_on_target_list"
    assert (
        body["extra"]["instrument"] == PINGAN and body["extra"]["rule"] == "financing_target_list"
    )
    assert body["extra"]["sha256"] == target.sha256
    assert Order.objects.count() == orders  # nothing placed, nothing held back

    # own-cash buys and sales of it go on; SSE has no target list: the desk's list stands
    assert _api_order(account, PINGAN, "cash_buy", "t-3").status_code == 201
    assert _api_order(account, PINGAN, "sell", "t-4").status_code == 201
    assert _api_order(account, MOUTAI, "financed_buy", "t-5", price="100.00").status_code == 201

    # back on a later list of the same day: financing again
    _import("code\n300750\n000001\n", exchange="SZSE", kind="financing_target",
            actor=staff["risk"], name="szse-rzbd-2.csv")  # fmt: skip
    assert _api_order(account, PINGAN, "financed_buy", "t-6").status_code == 201


# --- doors --------------------------------------------------------------------------------------


def test_a_risk_officer_imports_a_list_on_the_staff_page_and_sees_it_in_force(
    book_instruments, staff, client, make_investor
):
    content = b"code,conversion_rate\n600519,0.60\n600999,0.50\n"
    form = {"exchange": "SSE", "kind": "eligible_collateral",
            "effective_on": timezone.localdate().isoformat(), "reason": "daily drop"}  # fmt: skip
    login_verified(client, staff["ops"])
    upload = SimpleUploadedFile("sse.csv", content, content_type="text/csv")
    assert (
        client.post("/staff/lending/exchange-lists/", {**form, "file": upload}).status_code == 403
    )
    moutai = book_instruments[MOUTAI]
    page = client.get(f"/staff/lending/instruments/{moutai.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert "No exchange list is in force" in page.content.decode()

    login_verified(client, staff["risk"])
    upload = SimpleUploadedFile("sse.csv", content, content_type="text/csv")
    answer = client.post("/staff/lending/exchange-lists/", {**form, "file": upload})
    assert answer.status_code == 302
    made = ExchangeListImport.objects.get()
    detail = client.get(answer["Location"]).content.decode()
    assert hashlib.sha256(content).hexdigest() in detail and "600999" in detail
    download = client.get(f"/staff/lending/exchange-lists/{made.pk}/file/")
    assert download.content == content and "sse.csv" in download["Content-Disposition"]
    listing = client.get("/staff/lending/exchange-lists/").content.decode()
    assert "sse.csv" in listing and "600999" in listing
    bad = SimpleUploadedFile("bad.csv", b"code,conversion_rate\n600519,2\n")
    refused = client.post(
        "/staff/lending/exchange-lists/", {**form, "file": bad}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert refused.status_code == 400 and "line 2: conversion rate 2 is not a fraction" in (
        refused.content.decode()
    )

    page = client.get(f"/staff/lending/instruments/{moutai.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    page = page.content.decode()
    assert "No exchange list is in force" in page  # the target list: none imported
    assert "sse.csv" in page and "<strong>60.00%</strong> (set by exchange list" in page
    listing = _api(staff["auditor"]).get("/api/v1/instruments/?q=600519").json()["results"]
    assert listing[0]["haircut"] == "0.6000" and listing[0]["haircut_sources"] == ["exchange"]
    assert (listing[0]["desk_haircut"], listing[0]["exchange_conversion_rate"]) == (
        "0.7000",
        "0.6000",
    )
    assert listing[0]["haircut_cap"] == "0.7000"
    imports = _api(staff["auditor"]).get("/api/v1/exchange-lists/")
    assert imports.status_code == 200 and imports.json()[0]["unknown_codes"] == ["600999"]
    investor = make_investor().user
    assert _api(investor).get("/api/v1/exchange-lists/").status_code == 403


def test_the_api_and_the_command_import_once(book_instruments, staff, tmp_path):
    content = b"code\n600519\n510300\n"
    body = {"exchange": "SSE", "kind": "financing_target",
            "effective_on": timezone.localdate().isoformat(), "reason": "daily drop"}  # fmt: skip
    auditor = _api(staff["auditor"]).post(
        "/api/v1/exchange-lists/", {**body, "file": SimpleUploadedFile("t.csv", content)},
        format="multipart",
    )  # fmt: skip
    assert auditor.status_code == 403 and ExchangeListImport.objects.count() == 0
    first = _api(staff["risk"]).post(
        "/api/v1/exchange-lists/", {**body, "file": SimpleUploadedFile("t.csv", content)},
        format="multipart",
    )  # fmt: skip
    assert first.status_code == 201, first.content
    assert (
        first.json()["row_count"] == 2
        and first.json()["sha256"] == hashlib.sha256(content).hexdigest()
    )

    path = tmp_path / "t.csv"
    path.write_bytes(content)
    out = _command(path, "--exchange", "SSE", "--kind", "financing_target")
    assert out.startswith(f"already imported as #{first.json()['id']}")
    path.write_bytes(b"code\n600519\n")  # the next day's drop, one security fewer
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    out = _command(
        path, "--exchange", "SSE", "--kind", "financing_target", "--effective-on", tomorrow
    )
    assert out.startswith("imported #") and "1 rows" in out
    made = ExchangeListImport.objects.get(effective_on=tomorrow)
    assert made.imported_by is None and made.history.get().history_change_reason.startswith(
        "system:"
    )
    etf = book_instruments[ETF]
    assert exchange_lists.on_target_list(etf, timezone.localdate())
    assert not exchange_lists.on_target_list(etf, timezone.localdate() + timedelta(days=1))


def _command(*args) -> str:
    out = StringIO()
    call_command("import_exchange_list", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def test_the_instrument_list_reads_the_haircuts_in_force_in_a_fixed_number_of_queries(
    book_instruments, staff
):
    _import("code,conversion_rate\n600519,0.60\n", actor=staff["risk"])
    client = _api(staff["auditor"])
    client.get("/api/v1/instruments/")  # warm: content types, translations

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/instruments/").status_code == 200
        return len(captured)

    four = queries()
    for n in range(5):
        instruments_services.instrument_create(
            code=f"60300{n}", exchange="SSE", name=f"测试{n}", category="other_a_share",
            tradable_float=1_000_000_000, collateral_eligible=True, haircut=D("0.50"),
            actor=None, reason="test",
        )  # fmt: skip
    assert queries() == four  # the page, the dated caps, the exchange rates: not per row


def test_the_filings_book_values_at_the_haircut_and_price_in_force_like_the_desk(
    funded_account, staff, book_instruments
):
    """A regulator's filing reads the book as of an instant (reports.selectors.book_as_of /
    securities_as_of): its collateral value must be the one the desk's valuation uses."""
    from compliance import parameters as P
    from compliance import services as compliance_services
    from reports import selectors as report_selectors

    account = funded_account()

    def filed():
        now = timezone.now()
        row = next(r for r in report_selectors.book_as_of(now) if r.credit_account_id == account.pk)
        lines = {s["instrument"]: s for s in report_selectors.securities_as_of(now)}
        return row, lines

    row, _lines = filed()
    # 200,000 x 0.70 + 300,000 x 0.65 = 140,000 + 195,000
    assert (row.market_value, row.collateral_value) == (D("500000.00"), D("335000.00"))

    _import("code,conversion_rate\n600519,0.60\n510300,0.95\n", actor=staff["risk"])
    row, lines = filed()
    assert row.collateral_value == D("315000.00")  # 200,000 x 0.60 + 195,000
    assert lines[MOUTAI]["haircut"] == D("0.60")

    # 000001 suspended, valued at 80% of its last price from today: 30,000 x 10.00 x 0.80
    compliance_services.parameter_add(
        key=P.SUSPENDED_VALUATION_DISCOUNT,
        effective_from=timezone.localdate(),
        value=D("0.20"),
        source="desk risk policy (test)",
        actor=None,
    )
    instruments_services.instrument_flags_set(
        instrument=book_instruments[PINGAN], actor=None, reason="trading halt", suspended=True
    )
    row, lines = filed()
    assert row.market_value == D("440000.00")  # 200,000 + 240,000
    assert row.collateral_value == D("120000.00")  # suspended: no margin credit
    assert (lines[PINGAN]["market_value"], lines[PINGAN]["haircut"]) == (D("240000.00"), D(0))
    view = account_view(account)
    assert view.total_assets == row.cash + row.market_value == D("1240000.00")
