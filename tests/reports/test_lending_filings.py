"""Lending filings and the credit part of client statements on a book seeded through the real
services (PostgreSQL, WeasyPrint, poppler): figures printed in the PDF equal the selectors.

Book (tests.lending.book_fixtures.funded_account, prices of BOOK_INSTRUMENTS):
    A: deposit 1,000,000; own 2,000 SSE:600519 @ 100; financed 30,000 SZSE:000001 @ 10
    B: deposit 200,000; own 2,000 SSE:600519 @ 100; financed 14,000 SZSE:000001 @ 10
    C: deposit 50,000; no financing (no ratio)
then SZSE:000001 falls to 6.00 and 600519 to 60.00: B's ratio (0 + 120,000 + 84,000) /
140,000 = 145.71% is under the target line, not under the warning line; A stays high.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from lending.financing.valuation import account_view
from reports import canonical, kinds, render, selectors, statements
from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, PINGAN, D, sh

from .conftest import numbers, pdf_text
from .test_filings import prepared

pytestmark = pytest.mark.django_db


def _line(text: str, label: str) -> list[str]:
    line = next(x for x in text.splitlines() if re.match(rf"\s*{re.escape(label)}\s{{2,}}", x))
    return numbers(line[line.index(label) + len(label) :])


def _money(value) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01'))}"


@pytest.fixture
def book(funded_account):
    a = funded_account()
    b = funded_account(deposit="200000", financed=((PINGAN, 14000, "10.00"),))
    c = funded_account(deposit="50000", own=(), financed=())
    price_set(PINGAN, "6.00")
    price_set(MOUTAI, "60.00")
    return a, b, c


def test_daily_business_and_concentration_figures_equal_account_view(book, officers):
    as_of = timezone.now()
    views = [account_view(acc, as_of=as_of) for acc in book]
    # the set-based as-of read agrees with account_view, account by account
    rows = {r.credit_account_id: r for r in selectors.book_as_of(as_of)}
    for view in views:
        row = rows[view.credit_account.pk]
        assert row.total_assets == view.total_assets
        assert row.liabilities == view.total_liabilities
        assert row.collateral_value == view.collateral_value
        assert row.ratio == view.maintenance_ratio

    filing = prepared("daily_business", officers[0], as_of)
    text = pdf_text(filing.pdf_file.path)
    debt = sum(v.financing_debt for v in views)
    assert debt == D("440000.00")
    assert _line(text, "Financing balance") == [_money(debt)]
    assert _line(text, "Credit accounts") == ["3"]
    assert _line(text, "Accounts with debt") == ["2"]
    assert _line(text, "Collateral value after haircuts") == [
        _money(sum(v.collateral_value for v in views))
    ]
    assert _line(text, "Total assets") == [_money(sum(v.total_assets for v in views))]
    ratios = [v.maintenance_ratio for v in views if v.maintenance_ratio is not None]
    average = (sum(ratios) / len(ratios) * 100).quantize(Decimal("0.01"))
    assert _line(text, "Average ratio") == [f"{average}"]
    assert _line(text, "Lowest ratio") == [f"{(min(ratios) * 100).quantize(Decimal('0.01'))}"]
    for label, line in (
        ("Under the target line", "target"),
        ("Under the warning line", "warning"),
        ("Under the call line", "call"),
        ("Under the withdrawal line", "withdrawal"),
    ):
        expected = sum(
            1 for v in views if v.maintenance_ratio and v.maintenance_ratio < getattr(v.lines, line)
        )
        assert _line(text, label) == [str(expected)], label
    assert _line(text, "Under the target line") == ["1"]
    assert _line(text, "Calls issued") == ["0"]
    assert "<svg" not in text and "Accounts with debt by maintenance ratio" in text

    # concentration: top clients and securities
    filing = prepared("concentration", officers[0], as_of)
    text = pdf_text(filing.pdf_file.path)
    assert _line(text, "Financing balance") == ["440000.00"]
    a_number = book[0].account_number
    row = next(x for x in text.splitlines() if a_number in x and "300,000.00" in x)
    assert numbers(row)[-3:] == [
        "300000.00",
        "68.18",
        str((views[0].maintenance_ratio * 100).quantize(Decimal("0.01"))),
    ]
    assert "SZSE:000001" in text and "440,000.00" in text  # financed security total
    # 600519 as collateral: 4,000 shares x 60 x 70% = 168,000; 000001: 44,000 x 6 x 65% = 171,600
    assert "168,000.00" in text and "171,600.00" in text


def test_same_as_of_same_hash_after_later_postings(book, officers, funded_account):
    as_of = timezone.now()
    first = canonical.data_hash(
        {"kind": "daily_business", "data": kinds.build_daily_business(as_of)}
    )
    funded_account(deposit="10000", own=(), financed=((PINGAN, 100, "6.00"),))
    price_set(PINGAN, "5.00")
    again = canonical.data_hash(
        {"kind": "daily_business", "data": kinds.build_daily_business(as_of)}
    )
    later = canonical.data_hash(
        {"kind": "daily_business", "data": kinds.build_daily_business(timezone.now())}
    )
    assert first == again != later


def test_defaults_liquidations_and_kpi_after_a_default(account, staff, reserve, officers):
    from lending.liquidation import services as liquidation
    from lending.margin_calls import services as calls
    from tests.support import market

    # the lifecycle of tests/lending/test_calls_lifecycle: call, overdue, collapse, execution
    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    call = calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0)).call
    calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 5))
    price_set(MOUTAI, "5.00")
    price_set(PINGAN, "0.50")
    plan = liquidation.liquidation_plan_prepare(
        call=call, actor=staff["risk"], now=sh(2026, 10, 12, 9, 20)
    )
    plan = liquidation.liquidation_plan_approve(
        plan=plan, actor=staff["risk2"], reason="overdue", now=sh(2026, 10, 12, 9, 25)
    )
    plan = liquidation.liquidation_execute(
        plan=plan, actor=staff["risk"], now=sh(2026, 10, 12, 9, 31)
    )
    for link in plan.orders_sent:  # the exchange fills the liquidation orders at their limits
        market.fill(link.order)
    from lending.models import DefaultRecord

    default = DefaultRecord.objects.get(call=call)
    liquidation.default_recovery_record(
        default=default,
        amount=D("20000"),
        actor=staff["risk"],
        reason="recovered",
        now=default.occurred_at + timedelta(days=14),  # the default: at the last fill
    )
    as_of = timezone.now()
    filing = prepared("defaults_liquidations", officers[0], as_of)
    text = pdf_text(filing.pdf_file.path)
    assert _line(text, "Defaults") == ["1"]
    # everything sold at the price the plan expects, the latest less 0.5% slippage floored to
    # the cent (4.97 and 0.49): proceeds 2,000 x 4.97 + 14,000 x 0.49 = 16,800, shortfall
    # 140,000 - 16,800 = 123,200 (sized at the lower limits it was 15,300 and 124,700)
    assert _line(text, "Total shortfall") == ["123200.00"]
    assert _line(text, "Recovered") == ["20000.00"]
    assert _line(text, "Not recovered") == ["103200.00"]
    assert _line(text, "Average recovery time (days)") == ["14.00"]
    assert _line(text, "Liquidation plans executed") == ["1"]
    assert _line(text, "Liquidation proceeds") == ["16800.00"]
    assert _line(text, "Debt repaid from proceeds") == ["16800.00"]

    filing = prepared("kpi", officers[0], as_of)
    text = pdf_text(filing.pdf_file.path)
    assert _line(text, "Credit accounts") == ["1"]
    assert _line(text, "Default rate") == ["100.00"]
    assert _line(text, "Forced liquidations") == ["1"]
    assert _line(text, "Average recovery time (days)") == ["14.00"]

    # reserves: the reserve fund after covering the default; no stress run exists
    from custody import selectors as custody

    filing = prepared("reserves", officers[0], as_of)
    text = pdf_text(filing.pdf_file.path)
    # 1,000,000 less the 123,200 shortfall covered (124,700 when sized at the lower limits)
    reserve_now = custody.reserve_fund_balance(currency="CNY")
    assert reserve_now == D("876800.00")
    assert numbers(next(x for x in text.splitlines() if x.strip().startswith("CNY")))[:1] == [
        "876800.00"
    ]
    assert "No stress run had finished by the as-of time" in pdf_text(
        filing.pdf_file.path, layout=False
    ).replace("\n", " ")


def test_statement_credit_section_equals_account_view(book, tmp_path):
    a = book[0]
    today = timezone.localdate()
    start, end = statements.period_for(today.year, today.month)
    snapshot = statements.build_statement(
        investor_id=a.investor_id, period_start=start, period_end=end
    )
    as_of = statements.period_as_of(end)
    view = account_view(a, as_of=as_of)
    credit = snapshot["data"]["credit"]
    assert credit["total_assets"] == view.total_assets == D("1100000.00")
    html = render.statement_html(
        snapshot=snapshot, data_sha256=canonical.data_hash(snapshot), language="en"
    )
    path = tmp_path / "statement.pdf"
    path.write_bytes(render.pdf_bytes(html))
    text = pdf_text(path)
    assert _line(text, "Credit limit") == ["1000000.00"]
    assert _line(text, "Unused credit") == ["700000.00"]
    assert _line(text, "Total assets") == [_money(view.total_assets)]
    assert _line(text, "Liabilities") == [_money(view.total_liabilities)]
    assert _line(text, "Available margin") == [_money(view.available_margin)]
    assert _line(text, "Withdrawable amount") == [_money(view.withdrawable_cash)]
    assert _line(text, "Collateral value") == [_money(view.collateral_value)]
    assert _line(text, "Maintenance collateral ratio") == [
        f"{(view.maintenance_ratio * 100).quantize(Decimal('0.01'))}"
    ]
    row = next(
        x for x in text.splitlines() if x.strip().startswith("SZSE:000001") and "300,000.00" in x
    )
    f = snapshot["data"]["financings"][0]
    assert numbers(row)[1:7] == [
        "30000",
        "10.000",
        "300000.00",
        "300000.00",
        _money(f["interest"]),
        "0.00",
    ]
    assert f["due_date"].isoformat() in row


def test_daily_business_counts_the_calls_issued_on_the_day(account, officers):
    from lending.margin_calls import services as calls

    # the calls_fixtures account (ratio 242.86%) falls under the call line:
    # 2,000 x 48 + 14,000 x 5.80 = 177,200 / 140,000 = 126.57%
    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    call = calls.account_revalue(credit_account=account, now=timezone.now()).call
    assert call is not None and call.amount_to_cure == D("32800.00")
    as_of = timezone.now()
    text = pdf_text(prepared("daily_business", officers[0], as_of).pdf_file.path)
    assert _line(text, "Calls issued") == ["1"]
    assert _line(text, "Total amount to cure") == ["32800.00"]
    assert _line(text, "Under the call line") == ["1"]
    row = next(x for x in text.splitlines() if x.strip().startswith(account.account_number))
    assert "126.57" in numbers(row) and "32800.00" in numbers(row)
