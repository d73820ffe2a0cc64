"""Corporate actions on collateral and financed lots (lending.financing.corporate_actions):
a cash dividend across its ex-date and pay date, 10-for-10 bonus shares on a financed lot, a
rights issue's notice, the import file's validation (every bad line named, nothing written),
and the mark-to-market arrays agreeing with account_view across the ex-date. Numbers worked by
hand in the comments; fees are zero (funded_account)."""

import hashlib
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.errors import PermissionDenied, RuleViolation, ValidationFailed
from compliance import calendar
from custody.models import EntryKind, JournalEntry, LedgerAccount
from custody.selectors import trial_balance
from lending.financing import corporate_actions as ca
from lending.financing.models import (
    CorporateAction,
    CorporateActionEntitlement,
    Financing,
    FinancingStatus,
)
from lending.financing.valuation import account_view
from lending.instruments import selectors as instruments_selectors
from lending.models import CreditAccount
from lending.mtm import book_arrays
from tests.lending.book_fixtures import price_set
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

PINGAN = "SZSE:000001"  # other A-share, main board (±10%), haircut 65%


def _dates():
    """The next trading day as the ex-date; the record date is the trading day before it."""
    ex = calendar.add_trading_days(timezone.localdate(), 1)
    return calendar.add_trading_days(ex, -1), ex


def _balance(purpose: str, unit: str, investor=None) -> Decimal:
    from custody.selectors import account_balance

    account = LedgerAccount.objects.filter(purpose=purpose, unit=unit, investor=investor).first()
    return Decimal(0) if account is None else account_balance(account=account)


def _mtm(account):
    """(ratio, assets, other collateral, available margin) of the mark-to-market arrays."""
    from lending.domain import margin

    loaded = book_arrays.load_book(credit_account_ids=[account.pk])
    i = int(loaded.index_of([account.pk])[0])
    valued = margin.value_book(loaded.book)
    available = margin.available_margin_many(loaded.book, loaded.lines.financing_margin_ratio)
    return (
        float(loaded.ratios()[i]),
        float(valued.assets[i]),
        float(loaded.book.other_collateral[i]),
        float(available[i]),
    )


def _fresh(account):
    return account_view(CreditAccount.objects.get(pk=account.pk))


def test_cash_dividend_keeps_the_ratio_at_the_ex_date_and_pays_cash_on_the_pay_date(
    funded_account, book_instruments, staff
):
    # given 1,000 PINGAN financed at 20.00 (20,000.00) and 20,000.00 of own cash:
    # assets 20,000 + 1,000 x 20.00 = 40,000.00, debt 20,000.00, ratio 200%
    price_set(PINGAN, "20.00")
    account = funded_account(deposit="20000", own=(), financed=((PINGAN, 1000, "20.00"),))
    investor = account.investor
    before = _fresh(account)
    assert before.total_assets == Decimal("40000.00")
    assert before.maintenance_ratio == Decimal("2")
    record, ex = _dates()
    pay = calendar.add_trading_days(ex, 2)
    action = ca.corporate_action_create(
        instrument=book_instruments[PINGAN], kind="cash_dividend", record_date=record,
        ex_date=ex, pay_date=pay, cash_per_share="0.50", source_reference="SZSE 2026-88",
        actor=staff["ops"], reason="issuer's announcement",
    )  # fmt: skip

    # when the ex-date comes (the daily task, run twice: idempotent)
    done = ca.corporate_actions_process(on=ex)
    assert done.ex_processed == [action.pk] and done.paid == []
    assert ca.corporate_actions_process(on=ex).ex_processed == []

    # then the price is the reference 20.00 - 0.50 = 19.50; MV 19,500.00 + receivable 500.00
    # + cash 20,000.00 = 40,000.00: the ratio is still 200%
    action.refresh_from_db()
    assert action.status == "ex_processed" and action.reference_price == Decimal("19.50")
    view = _fresh(account)
    assert view.position(PINGAN).price == Decimal("19.50")
    assert view.position(PINGAN).market_value == Decimal("19500.00")
    assert view.entitlements_receivable == Decimal("500.00")
    assert view.cash == Decimal("20000.00")
    assert view.total_assets == Decimal("40000.00")
    assert view.maintenance_ratio == before.maintenance_ratio == Decimal("2")
    # the mark-to-market arrays agree: other collateral 500, ratio 2.0, same available margin
    ratio, assets, other, available = _mtm(account)
    assert ratio == pytest.approx(2.0, rel=1e-12) and assets == pytest.approx(40000.0)
    assert other == pytest.approx(500.0)
    assert available == pytest.approx(float(view.available_margin), abs=0.01)
    # the ex-date's price band is around the reference price: 19.50 ± 10% = 17.55 .. 21.45
    band = instruments_selectors.instrument_band(book_instruments[PINGAN], on=ex)
    assert (band.reference, band.low, band.high) == (
        Decimal("19.50"), Decimal("17.55"), Decimal("21.45"),
    )  # fmt: skip
    entitlement = CorporateActionEntitlement.objects.get()
    assert entitlement.quantity_held == Decimal("1000") and entitlement.cash_amount == Decimal(
        "500.00"
    )
    assert entitlement.ex_entry.kind == EntryKind.CORPORATE_ACTION
    assert _balance("custodian_entitlements", "CNY") == Decimal("500.00")
    assert trial_balance().balanced
    # the filings' book at the ex-date's opening counts the receivable too: 40,000.00, 200%
    from reports.selectors import book_as_of

    opening = instruments_selectors.day_start(ex) + timedelta(hours=9, minutes=30)
    filed = next(a for a in book_as_of(opening) if a.credit_account_id == account.pk)
    assert (filed.market_value, filed.other_collateral) == (Decimal("19500"), Decimal("500"))
    assert filed.total_assets == Decimal("40000") and filed.ratio == Decimal("2")

    # when the pay date comes: cash 20,500.00, receivable 0, assets still 40,000.00
    done = ca.corporate_actions_process(on=pay)
    assert done.paid == [action.pk]
    assert ca.corporate_actions_process(on=pay).paid == []
    after = _fresh(account)
    assert after.cash == Decimal("20500.00") and after.entitlements_receivable == 0
    assert after.total_assets == Decimal("40000.00")
    assert after.maintenance_ratio == Decimal("2")
    assert _mtm(account)[2] == 0.0
    assert _balance("custodian_entitlements", "CNY") == 0
    assert _balance("entitlement_receivable", "CNY", investor) == 0
    action.refresh_from_db()
    assert action.status == "paid"
    assert JournalEntry.objects.filter(kind=EntryKind.CORPORATE_ACTION).count() == 2
    assert trial_balance().balanced
    # the account's financing is untouched by a dividend
    lot = Financing.objects.get(credit_account=account)
    assert (lot.quantity_held, lot.principal_outstanding) == (Decimal("1000"), Decimal("20000"))


def test_ten_for_ten_bonus_shares_on_a_financed_lot(funded_account, book_instruments, staff):
    # given 500 own PINGAN and 1,000 financed, all at 20.00; cash 30,000 - 10,000 = 20,000:
    # assets 20,000 + 1,500 x 20 = 50,000.00; debt 20,000.00; ratio 250%;
    # available margin 20,000 + 10,000 x 0.65 + 0 - 20,000 x 1.00 = 6,500.00
    price_set(PINGAN, "20.00")
    account = funded_account(
        deposit="30000", own=((PINGAN, 500, "20.00"),), financed=((PINGAN, 1000, "20.00"),)
    )
    before = _fresh(account)
    assert before.maintenance_ratio == Decimal("2.5")
    assert before.available_margin == Decimal("6500.00")
    record, ex = _dates()
    ca.corporate_action_create(
        instrument=book_instruments[PINGAN], kind="bonus", record_date=record, ex_date=ex,
        ratio="1", source_reference="SZSE 2026-99 10送10", actor=staff["ops"], reason="announced",
    )  # fmt: skip

    ca.corporate_actions_process(on=ex)

    # then 3,000 shares at 20.00 / 2 = 10.00: MV 30,000.00, as before
    view = _fresh(account)
    position = view.position(PINGAN)
    assert position.quantity == Decimal("3000") and position.price == Decimal("10.00")
    assert position.market_value == Decimal("30000.00")
    assert position.financed_quantity == Decimal("2000")
    # the financed lot follows the shares: 2,000 still held at 10.00, amount and principal kept
    lot = Financing.objects.get(credit_account=account, status=FinancingStatus.OPEN)
    assert (lot.quantity, lot.quantity_held, lot.price) == (
        Decimal("2000"), Decimal("2000"), Decimal("10.0000"),
    )  # fmt: skip
    assert (lot.amount, lot.principal_outstanding) == (Decimal("20000.00"), Decimal("20000.00"))
    assert "corporate action" in lot.history.first().history_change_reason
    # ratio and available margin unchanged: 50,000 / 20,000 = 250%;
    # 20,000 + 1,000 x 10 x 0.65 + (20,000 - 20,000) x 0.65 - 20,000 = 6,500.00
    assert view.total_assets == Decimal("50000.00")
    assert view.maintenance_ratio == Decimal("2.5")
    assert view.available_margin == Decimal("6500.00")
    ratio, assets, other, available = _mtm(account)
    assert ratio == pytest.approx(2.5, rel=1e-12) and assets == pytest.approx(50000.0)
    assert other == 0.0 and available == pytest.approx(6500.0, abs=0.01)
    entitlement = CorporateActionEntitlement.objects.get()
    assert (entitlement.quantity_held, entitlement.new_shares) == (Decimal("1500"), Decimal("1500"))
    assert entitlement.financings_adjusted == 1
    # the new shares come from the custodian account: Dr custodian 1,500 / Cr client 1,500
    assert _balance("custodian", PINGAN) == Decimal("3000")
    assert trial_balance().balanced
    # a second run changes nothing
    ca.corporate_actions_process(on=ex)
    assert _fresh(account).position(PINGAN).quantity == Decimal("3000")


def test_a_rights_issue_notifies_the_holder_and_books_nothing(
    funded_account, book_instruments, staff, client
):
    price_set(PINGAN, "20.00")
    account = funded_account(deposit="30000", own=((PINGAN, 1500, "20.00"),), financed=())
    record, ex = _dates()
    end = calendar.add_trading_days(ex, 5)
    ca.corporate_action_create(
        instrument=book_instruments[PINGAN], kind="rights", record_date=record, ex_date=ex,
        ratio="0.3", rights_price="8.00", subscription_end=end,
        source_reference="SZSE 2026-120 10配3", actor=staff["ops"], reason="announced",
    )  # fmt: skip
    entries = JournalEntry.objects.count()
    ca.corporate_actions_process(on=ex)
    # 1,500 x 0.3 = 450 rights shares; nothing booked; reference price
    # (20.00 + 8.00 x 0.3) / 1.3 = 17.2307... -> 17.23
    entitlement = CorporateActionEntitlement.objects.get()
    assert entitlement.rights_quantity == Decimal("450") and entitlement.ex_entry is None
    assert JournalEntry.objects.count() == entries
    assert CorporateAction.objects.get().reference_price == Decimal("17.23")
    client.force_login(account.investor.user)
    page = client.get("/portal/lending/account/").content.decode()
    assert "450" in page and "8.0000" in page and end.isoformat() in page
    assert client.get("/staff/lending/corporate-actions/").status_code in (302, 403)
    # staff (the auditor reads) see every holder's entitlement on the detail page
    client.force_login(staff["auditor"])
    action = CorporateAction.objects.get()
    detail = client.get(f"/staff/lending/corporate-actions/{action.pk}/")
    assert detail.status_code == 200
    assert f"<td>{account.account_number}</td>" in detail.content.decode()
    assert '<td class="num">450</td>' in detail.content.decode()


def test_the_record_date_is_the_trading_day_before_the_ex_date(book_instruments, staff):
    record, ex = _dates()
    wrong = calendar.add_trading_days(record, -1)
    with pytest.raises(RuleViolation, match="record_date") as refused:
        ca.corporate_action_create(
            instrument=book_instruments[PINGAN], kind="bonus", record_date=wrong, ex_date=ex,
            ratio="1", source_reference="x", actor=staff["ops"], reason="r",
        )  # fmt: skip
    assert refused.value.code == "record_date_not_previous_trading_day"
    with pytest.raises(ValidationFailed, match=r"^cash_per_share: required"):
        ca.corporate_action_create(
            instrument=book_instruments[PINGAN], kind="cash_dividend", record_date=record,
            ex_date=ex, pay_date=ex, source_reference="x", actor=staff["ops"], reason="r",
        )  # fmt: skip
    with pytest.raises(PermissionDenied):
        ca.corporate_action_create(
            instrument=book_instruments[PINGAN], kind="bonus", record_date=record, ex_date=ex,
            ratio="1", source_reference="x", actor=staff["auditor"], reason="r",
        )  # fmt: skip
    assert not CorporateAction.objects.exists()


def test_the_import_file_names_every_bad_line_and_writes_nothing(book_instruments, staff, client):
    record, ex = _dates()
    header = ",".join(ca.COLUMNS) + "\n"
    good = (
        f"SZSE:000001,cash_dividend,{record},{ex},{ex},0.50,,,,SZSE 2026-88\n"
        f"SSE:600519,bonus,{record},{ex},,,0.4,,,SSE 2026-12\n"
    )
    bad = (
        f"SSE:510300,dividend,{record},{ex},{ex},0.10,,,,x\n"  # line 4: unknown kind
        f"SSE:510300,cash_dividend,{record},2026-13-01,{ex},0.10,,,,x\n"  # line 5: bad date
        f"SZSE:000001,cash_dividend,{record},{ex},{ex},0.50,,,,again\n"  # line 6: line 2 again
    )
    url = "/staff/lending/corporate-actions/"
    login_verified(client, staff["ops"])

    def upload(text: str):
        file = SimpleUploadedFile("ca.csv", text.encode())
        return client.post(
            url,
            {"action": "upload", "reason": "daily file", "file": file},
            HTTP_ACCEPT_LANGUAGE="en",
        )

    refused = upload(header + good + bad)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert page.count('<td class="num">') >= 3 and 'id="import-errors"' in page
    for line, text in ((4, "kind: &#x27;dividend&#x27;"), (5, "ex_date: &#x27;2026-13-01&#x27;"),
                       (6, "the same action as line 2")):  # fmt: skip
        assert f'<td class="num">{line}</td>' in page and text in page
    assert not CorporateAction.objects.exists()
    with pytest.raises(ValidationFailed) as failed:
        ca.corporate_actions_import_csv(
            content=header + good + bad, file_name="ca.csv", actor=staff["ops"], reason="r"
        )
    assert [(e["line"], e["field"]) for e in failed.value.extra["errors"]] == [
        (4, "kind"), (5, "ex_date"), (6, "ex_date"),
    ]  # fmt: skip
    # lines are the file's, as a spreadsheet counts them: a blank line counts
    with pytest.raises(ValidationFailed) as failed:
        ca.corporate_actions_import_csv(
            content=header + "\n" + good + bad, file_name="ca.csv", actor=staff["ops"], reason="r"
        )
    assert [e["line"] for e in failed.value.extra["errors"]] == [5, 6, 7]

    assert upload(header + good).status_code == 302
    sha = hashlib.sha256((header + good).encode()).hexdigest()
    assert sorted(
        CorporateAction.objects.values_list("kind", "import_file_name", "import_sha256")
    ) == [("bonus", "ca.csv", sha), ("cash_dividend", "ca.csv", sha)]
    # the same actions again: refused as already recorded, per line
    again = upload(header + good)
    assert again.status_code == 400 and "already recorded" in again.content.decode()
    assert CorporateAction.objects.count() == 2


def test_the_api_lists_creates_imports_and_shows_entitlements(
    funded_account, book_instruments, staff
):
    price_set(PINGAN, "20.00")
    funded_account(deposit="20000", own=((PINGAN, 1000, "20.00"),), financed=())
    record, ex = _dates()
    api = APIClient()
    api.force_authenticate(staff["ops"])
    body = {
        "instrument": PINGAN, "kind": "cash_dividend", "record_date": record.isoformat(),
        "ex_date": ex.isoformat(), "pay_date": ex.isoformat(), "cash_per_share": "0.25",
        "source_reference": "SZSE 2026-7", "reason": "announced",
    }  # fmt: skip
    made = api.post("/api/v1/corporate-actions/", body, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["cash_per_share"] == "0.25"
    twice = api.post("/api/v1/corporate-actions/", body, format="json")
    assert twice.status_code == 409
    header = ",".join(ca.COLUMNS) + "\n"
    file = SimpleUploadedFile(
        "f.csv", (header + f"SSE:600519,split,{record},{ex},,,1,,,S\n").encode()
    )
    imported = api.post(
        "/api/v1/corporate-actions/import/", {"file": file, "reason": "file"}, format="multipart"
    )
    assert imported.status_code == 201, imported.content
    assert imported.json()[0]["import_file_name"] == "f.csv"
    ca.corporate_actions_process(on=ex)  # ex-date and pay date the same day
    shown = api.get(f"/api/v1/corporate-actions/{made.json()['id']}/").json()
    # 1,000 x 0.25 = 250.00, booked and paid
    assert shown["status"] == "paid"
    assert [(e["quantity_held"], e["cash_amount"]) for e in shown["entitlements"]] == [
        ("1000", "250.00")
    ]
    assert len(api.get("/api/v1/corporate-actions/").json()) == 2
    investor_api = APIClient()
    investor_api.force_authenticate(CreditAccount.objects.get().investor.user)
    assert investor_api.post("/api/v1/corporate-actions/", body, format="json").status_code == 403


def test_the_mtm_arrays_agree_with_account_view_across_an_ex_date_for_a_book(
    funded_account, book_instruments, staff
):
    price_set(PINGAN, "20.00")
    accounts = [
        funded_account(deposit="20000", own=(), financed=((PINGAN, 1000, "20.00"),)),
        funded_account(deposit="50000", own=((PINGAN, 700, "20.00"),), financed=()),
        funded_account(financed=((PINGAN, 3000, "20.00"),)),  # MOUTAI own, PINGAN financed
    ]
    record, ex = _dates()
    ca.corporate_action_create(
        instrument=book_instruments[PINGAN], kind="cash_dividend", record_date=record,
        ex_date=ex, pay_date=calendar.add_trading_days(ex, 1), cash_per_share="0.37",
        source_reference="d", actor=staff["ops"], reason="r",
    )  # fmt: skip
    ratios_before = [_fresh(a).maintenance_ratio for a in accounts]
    ca.corporate_actions_process(on=ex)
    loaded = book_arrays.load_book(credit_account_ids=[a.pk for a in accounts])
    ratios = loaded.ratios()
    for account, before in zip(accounts, ratios_before, strict=True):
        view = _fresh(account)
        i = int(loaded.index_of([account.pk])[0])
        # continuous: the price fell by 0.37 and the receivable rose by quantity x 0.37
        if before is None:
            assert view.maintenance_ratio is None and np.isinf(ratios[i])
        else:
            assert view.maintenance_ratio == before
            assert ratios[i] == pytest.approx(float(view.maintenance_ratio), rel=1e-9)
        assert loaded.book.other_collateral[i] == pytest.approx(float(view.entitlements_receivable))
    assert book_arrays.mirror_breaks() == []


def test_an_action_the_task_cannot_book_is_reported_and_the_others_go_on(
    funded_account, book_instruments, staff
):
    # a dividend of 25.00 on a 20.00 share would give a reference price of -5.00: refused,
    # nothing of it written; the bonus on another instrument is booked all the same
    price_set(PINGAN, "20.00")
    account = funded_account(
        deposit="40000", own=((PINGAN, 1000, "20.00"), ("SSE:510300", 1000, "4.000")),
        financed=(),
    )  # fmt: skip
    record, ex = _dates()
    bad = ca.corporate_action_create(
        instrument=book_instruments[PINGAN], kind="cash_dividend", record_date=record,
        ex_date=ex, pay_date=ex, cash_per_share="25", source_reference="typo",
        actor=staff["ops"], reason="r",
    )  # fmt: skip
    good = ca.corporate_action_create(
        instrument=book_instruments["SSE:510300"], kind="split", record_date=record, ex_date=ex,
        ratio="1", source_reference="split", actor=staff["ops"], reason="r",
    )  # fmt: skip
    result = ca.corporate_actions_process(on=ex)
    assert result.ex_processed == [good.pk]
    assert "not below the previous close 20.00" in result.failed[bad.pk]
    bad.refresh_from_db()
    assert bad.status == "announced" and not bad.entitlements.exists()
    assert _balance("entitlement_receivable", "CNY", account.investor) == 0
    # the ETF split: 2,000 at 4.000 / 2 = 2.000 (the ETF's price tick is 0.001)
    position = _fresh(account).position("SSE:510300")
    assert (position.quantity, position.price) == (Decimal("2000"), Decimal("2.000"))
