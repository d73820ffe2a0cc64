"""The short side (融券, issue 22) in the client statement, the daily business filing and the
KPI report: one short sale and a partial cover today, through orders (tests/support/market.py)
on the short desk (tests/lending/short_fixtures.py: SSE:600519 at 20.00, 10,000 house shares
to lend, fees of zero, lending fee 8.35 per cent a year, short margin ratio 100 per cent).

Worked by hand:
    deposit 50,000.00
    short sale 1,000 @ 20.00: restricted proceeds 20,000.00, short-sale amount 20,000.00
    price 21.00; buy to cover 400 @ 21.00: cost 8,400.00 from the restricted proceeds
      -> proceeds 11,600.00; owed 600 shares, short-sale amount 20,000 x 600/1,000 = 12,000.00
      (the proceeds stay below the 12,000.00 still owed: nothing released)
      lending fee, opened and closed the same day: one day on the 8,000.00 returned,
      round(8,000 x 0.0835 / 360, 2) = 1.86, paid from the free cash -> cash 49,998.14
    at 21.00: market value 600 x 21.00 = 12,600.00
      total assets 49,998.14 + 11,600.00 = 61,598.14; liabilities 12,600.00
      unused credit 1,000,000 - 0 - 12,000.00 = 988,000.00
    daily filing, SSE:600519: sold 1,000, returned 400, outstanding 600, short balance 12,600.00
    KPIs: short balance 12,600.00; 1 account with shorts; restricted proceeds 11,600.00;
      lending fee income this month 1.86; inventory 10,000 shares, 600 lent: utilisation 6.00%
"""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from lending.financing.valuation import account_view
from reports import canonical, kinds, render, statements
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.support import market

from .conftest import numbers, pdf_text
from .test_filings import prepared

pytestmark = pytest.mark.django_db

D = Decimal
UNIT = "SSE:600519"


@pytest.fixture
def shorted(short_desk, short_account):
    account = short_account(deposit="50000")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    price_set(short_desk, "21.00")
    market.traded(account, short_desk, "buy_to_cover", 400, "21.00")
    assert trial_balance_is_zero()
    return account


def _line(text: str, label: str) -> list[str]:
    line = next(x for x in text.splitlines() if x.strip().startswith(label))
    return numbers(line[line.index(label) + len(label) :])


def _csv(data: bytes) -> dict[str, str]:
    rows = csv.reader(io.StringIO(data.decode("utf-8")))
    next(rows)
    return dict(rows)


def _index(rows: dict[str, str], prefix: str, unit: str) -> int:
    return next(
        int(path[len(prefix) + 1 : path.index("]")])
        for path, value in rows.items()
        if path.startswith(prefix + "[") and path.endswith("].instrument") and value == unit
    )


def test_statement_shows_the_short_section(shorted, short_desk, tmp_path):
    today = timezone.localdate()
    start, end = statements.period_for(today.year, today.month)
    snapshot = statements.build_statement(
        investor_id=shorted.investor_id, period_start=start, period_end=end
    )
    data = snapshot["data"]
    shorts = data["shorts"]
    assert shorts["securities"] == [
        {
            "instrument": UNIT,
            "name": short_desk.name,
            "quantity": D(600),
            "price": D("21.00"),
            "market_value": D("12600.00"),
            "short_sale_amount": D("12000.00"),
            "fees_accrued": D("0.00"),
        }
    ]
    assert shorts["restricted_proceeds"] == D("11600.00")
    assert shorts["lending_fees_owed"] == D("0.00")
    assert shorts["short_margin_ratio"] == D(1)
    assert shorts["period"]["lending_fees"] == D("1.86")
    assert shorts["period"]["compensation"] == D("0.00")
    [position] = shorts["positions"]
    assert (position["quantity"], position["quantity_owed"]) == (D(1000), D(600))
    assert (position["amount"], position["amount_owed"]) == (D("20000.00"), D("12000.00"))
    assert (position["fees_accrued"], position["fees_paid"]) == (D("0.00"), D("1.86"))

    credit = data["credit"]
    view = account_view(shorted, as_of=statements.period_as_of(end))
    assert credit["total_assets"] == view.total_assets == D("61598.14")
    assert credit["liabilities"] == view.total_liabilities == D("12600.00")
    assert credit["cash"] == D("49998.14")
    assert credit["credit_unused"] == D("988000.00")

    # the chunk builder (statement runs) gives the same snapshot
    chunk = statements.build_statements([(1, shorted.investor_id, start, end)])
    assert chunk[1] == snapshot

    # the CSV and JSON beside the PDF
    rows = _csv(canonical.to_csv_bytes(snapshot))
    assert rows["data.shorts.securities[0].instrument"] == UNIT
    assert D(rows["data.shorts.securities[0].quantity"]) == 600
    assert rows["data.shorts.securities[0].market_value"] == "12600.00"
    assert rows["data.shorts.restricted_proceeds"] == "11600.00"
    assert rows["data.shorts.period.lending_fees"] == "1.86"
    loaded = json.loads(canonical.to_json_bytes(snapshot))
    assert loaded["data"]["shorts"]["short_sale_amount"] == "12000.00"

    # the PDF, in English and in Chinese
    html = render.statement_html(
        snapshot=snapshot, data_sha256=canonical.data_hash(snapshot), language="en"
    )
    path = tmp_path / "statement.pdf"
    path.write_bytes(render.pdf_bytes(html))
    text = pdf_text(path)
    assert "Short positions" in text
    row = next(x for x in text.splitlines() if x.strip().startswith(UNIT) and "12,600.00" in x)
    assert numbers(row)[-5:] == ["600", "12000.00", "21.000", "12600.00", "0.00"]
    assert _line(text, "Restricted short-sale proceeds") == ["11600.00"]
    assert _line(text, "Lending fees charged in the period") == ["1.86"]
    assert _line(text, "Unused credit") == ["988000.00"]
    html_zh = render.statement_html(
        snapshot=snapshot, data_sha256=canonical.data_hash(snapshot), language="zh-hans"
    )
    assert "12,600.00" in html_zh and "11,600.00" in html_zh


def test_statement_without_shorts_says_so(funded_account, tmp_path):
    account = funded_account(deposit="50000", own=(), financed=())
    today = timezone.localdate()
    start, end = statements.period_for(today.year, today.month)
    snapshot = statements.build_statement(
        investor_id=account.investor_id, period_start=start, period_end=end
    )
    shorts = snapshot["data"]["shorts"]
    assert shorts["securities"] == [] and shorts["positions"] == []
    assert shorts["restricted_proceeds"] == D("0.00")
    html = render.statement_html(
        snapshot=snapshot, data_sha256=canonical.data_hash(snapshot), language="en"
    )
    assert "No short positions during this period." in html


def test_daily_business_filing_counts_the_short_side(shorted, short_desk, officers):
    as_of = timezone.now()
    data = kinds.build_daily_business(as_of)
    assert data["shorts"]["securities"] == [
        {
            "instrument": UNIT,
            "name": short_desk.name,
            "sold": D(1000),
            "returned": D(400),
            "outstanding": D(600),
            "price": D("21.0000"),
            "short_balance": D("12600.00"),
            "accounts": 1,
        }
    ]
    totals = data["shorts"]["totals"]
    assert totals["accounts_with_shorts"] == 1
    assert (totals["sold"], totals["returned"], totals["outstanding"]) == (
        D(1000),
        D(400),
        D(600),
    )
    assert totals["short_balance"] == D("12600.00")
    assert totals["restricted_proceeds"] == D("11600.00")
    # the short side counts in the book's assets and liabilities as account_view counts it
    view = account_view(shorted, as_of=as_of)
    assert data["totals"]["total_assets"] == view.total_assets == D("61598.14")
    assert data["ratios"]["minimum"] == view.maintenance_ratio.quantize(D("0.0001"))

    filing = prepared("daily_business", officers[0], as_of)
    rows = _csv(filing.csv_file.read())
    n = _index(rows, "data.shorts.securities", UNIT)
    prefix = f"data.shorts.securities[{n}]"
    # shares as the ledger holds them (four places)
    assert D(rows[f"{prefix}.sold"]) == 1000
    assert D(rows[f"{prefix}.returned"]) == 400
    assert D(rows[f"{prefix}.outstanding"]) == 600
    assert rows[f"{prefix}.short_balance"] == "12600.00"
    assert D(rows["data.shorts.totals.outstanding"]) == 600
    filing.json_file.seek(0)
    loaded = json.loads(filing.json_file.read())
    assert loaded["data"]["shorts"]["totals"]["short_balance"] == "12600.00"

    text = pdf_text(filing.pdf_file.path)
    row = next(x for x in text.splitlines() if x.strip().startswith(UNIT))
    assert numbers(row)[-5:] == ["1000", "400", "600", "21.000", "12600.00"]
    assert _line(text, "Accounts with short positions") == ["1"]
    assert _line(text, "Short balance (market value)") == ["12600.00"]
    assert _line(text, "Restricted short-sale proceeds") == ["11600.00"]


def test_kpi_report_shows_the_short_side(shorted, officers):
    as_of = timezone.now()
    shorts = kinds.build_kpi(as_of)["shorts"]
    assert shorts == {
        "short_balance": D("12600.00"),
        "accounts_with_shorts": 1,
        "restricted_proceeds": D("11600.00"),
        "lending_fee_income_month_to_date": D("1.86"),
        "inventory_quantity": D(10000),
        "inventory_lent": D(600),
        "inventory_utilisation": D("0.0600"),
    }
    filing = prepared("kpi", officers[0], as_of)
    text = pdf_text(filing.pdf_file.path)
    assert _line(text, "Short balance (market value)") == ["12600.00"]
    assert _line(text, "Accounts with short positions") == ["1"]
    assert _line(text, "Restricted short-sale proceeds") == ["11600.00"]
    assert _line(text, "Lending fee income, month to date") == ["1.86"]
    assert _line(text, "Inventory utilisation") == ["6.00"]
    rows = _csv(filing.csv_file.read())
    assert rows["data.shorts.inventory_utilisation"] == "0.0600"


def test_staff_dashboard_shows_the_short_side_now(shorted, staff, client):
    from django.urls import reverse

    from reports import dashboard

    board = dashboard.dashboard_for(staff["risk"])
    figures = board.shorts
    assert figures.short_balance == D("12600.00")
    assert figures.accounts_with_shorts == 1
    assert figures.restricted_proceeds == D("11600.00")
    assert figures.lending_fee_income_month_to_date == D("1.86")
    assert (figures.inventory_quantity, figures.inventory_lent) == (D(10000), D(600))
    assert figures.utilisation == D("0.06")
    client.force_login(staff["risk"])
    page = client.get(reverse("staff:home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-figure="short_balance">12,600.00<' in page
    assert 'data-figure="lending_fee_income">1.86<' in page


def test_statement_shows_the_months_compensation(short_desk, short_account, staff):
    """A cash dividend of 0.50 a share on the 1,000 shares owed at the record date: 500.00 of
    compensation (权益补偿) owed to the lender, in the statement of the ex-date's month."""
    from compliance import calendar
    from lending.financing import corporate_actions as ca

    account = short_account(deposit="50000")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    ex = calendar.add_trading_days(timezone.localdate(), 1)
    action = ca.corporate_action_create(
        instrument=short_desk,
        kind="cash_dividend",
        record_date=calendar.add_trading_days(ex, -1),
        ex_date=ex,
        pay_date=calendar.add_trading_days(ex, 2),
        cash_per_share="0.50",
        source_reference="SSE 2026-78",
        actor=staff["ops"],
        reason="issuer's announcement",
    )
    assert ca.corporate_actions_process(on=ex).ex_processed == [action.pk]

    start, end = statements.period_for(ex.year, ex.month)
    snapshot = statements.build_statement(
        investor_id=account.investor_id, period_start=start, period_end=end
    )
    shorts = snapshot["data"]["shorts"]
    assert shorts["period"]["compensation"] == D("500.00")
    assert shorts["lending_fees_owed"] == D("500.00")
    assert shorts["period"]["compensations"] == [
        {
            "instrument": UNIT,
            "kind": "cash",
            "ex_date": ex,
            "quantity_owed": D(1000),
            "amount": D("500.00"),
            "shares": D(0),
            "booked_on": timezone.localdate(),
        }
    ]
    [position] = shorts["positions"]
    assert position["compensation_charged"] == D("500.00")
    assert statements.build_statements([(1, account.investor_id, start, end)])[1] == snapshot
    rows = _csv(canonical.to_csv_bytes(snapshot))
    assert rows["data.shorts.period.compensations[0].amount"] == "500.00"
    for language, label in (("en", "Cash dividend compensation"), ("zh-hans", "500.00")):
        html = render.statement_html(
            snapshot=snapshot, data_sha256=canonical.data_hash(snapshot), language=language
        )
        assert label in html and ex.isoformat() in html
