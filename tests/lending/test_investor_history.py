"""The investor's history (issue 20, item 5): every movement on the credit account from the
custody ledger, in the portal (page and CSV) and the API; the deposit instructions; the
navigation of a new investor.

The liquidated account, built through the services (as tests/lending/test_liquidation_sizing.py's
issue account, with sale fees):
    deposit 52,000.00; own-cash purchase 2,000 SSE:600519 @ 20.00 (cash 12,000.00); financed
    buy 2,000 @ 20.00 (debt 40,000.00). The price falls to 9.90 on 30 September 2026: a call,
    overdue after 9 October; back at 10.00 when the desk plans. Stamp duty 0.05 per cent and
    transfer fee 0.001 per cent on sales, no commission, no slippage: the plan sells 1,700
    shares at 10.00: turnover 17,000.00, fees 8.50 + 0.17 = 8.67, proceeds 16,991.33 into
    cash, then repaid to the financing (debt 23,008.67; cash back to 12,000.00).
"""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone, translation

from compliance import parameters as P
from compliance.models import RegulatoryParameter
from custody import services as custody
from custody.models import LedgerAccount, Posting
from lending.financing import accrual, bank_credits
from lending.liquidation import services as liquidation
from lending.margin_calls import services as calls
from lending.models import Order
from lending.portal import nav
from lending.portal.history import History, period_parsed
from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, sh
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal
HISTORY = "/portal/lending/history/"


@pytest.fixture(autouse=True)
def english_pages(client):
    """Pages in English unless a test asks for Chinese (the desk's default language)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def _rows(account, period=None):
    """The selector's rows, described in English (a page read before may leave Chinese on)."""
    with translation.override("en"):
        return History(account, period).all()


def _desk_parameter(key, value):
    RegulatoryParameter.objects.update_or_create(
        key=key,
        effective_from=timezone.localdate(),
        defaults={"value": D(value), "source": "test desk"},
    )


@pytest.fixture
def liquidated(funded_account, staff):
    """The module docstring's account after its liquidation: (account, plan)."""
    _desk_parameter(P.CONCENTRATION_CAP, "1.00")
    price_set(MOUTAI, "20.00")
    account = funded_account(
        deposit="52000", own=((MOUTAI, 2000, "20.00"),), financed=((MOUTAI, 2000, "20.00"),)
    )
    price_set(MOUTAI, "9.90")
    call = calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0)).call
    calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 5))
    price_set(MOUTAI, "10.00")
    _desk_parameter(P.LIQUIDATION_SLIPPAGE, "0")
    _desk_parameter(P.STAMP_DUTY_SALE, "0.0005")
    _desk_parameter(P.TRANSFER_FEE, "0.00001")
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    plan = liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="overdue")
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    [order] = Order.objects.filter(liquidation_order__line__plan=plan)
    market.fill(order, price="10.00")
    return account, plan


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- a liquidation's sales, with their prices and fees --------------------------------------


def test_a_liquidations_sale_shows_its_price_and_fees_then_the_repayment(liquidated, client):
    account, plan = liquidated

    rows = _rows(account)
    sale = next(r for r in rows if r.category == "liquidation_sale")
    repaid = next(r for r in rows if r.category == "liquidation_repayment")
    # newest first: the repayment after the sale it comes from
    assert rows.index(repaid) < rows.index(sale)
    assert sale.liquidation_plan_id == plan.pk and repaid.liquidation_plan_id == plan.pk
    t = sale.trade
    assert (t.instrument, t.quantity, t.price, t.turnover) == (
        MOUTAI,
        D("1700"),
        D("10.00"),
        D("17000.00"),
    )
    assert (t.commission, t.stamp_duty, t.transfer_fee, t.fees) == (
        D("0"),
        D("8.50"),
        D("0.17"),
        D("8.67"),
    )
    assert sale.description == (
        f"Liquidation sale (plan {plan.pk}): 1,700 SSE:600519 贵州茅台 at 10.00; fees 8.67 "
        "(commission 0.00, stamp duty 8.50, transfer fee 0.17)"
    )
    # the sale: proceeds less fees into cash, the shares out; then the repayment from cash
    cash, shares = sale.movement("cash"), sale.movement("shares")
    assert (cash.amount, cash.balance) == (D("16991.33"), D("28991.33"))
    assert (shares.unit, shares.amount, shares.balance) == (MOUTAI, D("-1700"), D("2300"))
    assert repaid.movement("cash").amount == D("-16991.33")
    assert repaid.movement("cash").balance == D("12000.00")
    assert repaid.movement("financing").amount == D("-16991.33")
    assert repaid.movement("financing").balance == D("23008.67")
    assert "principal 16,991.33" in repaid.description

    # the same on the investor's page, in both languages
    client.force_login(account.investor.user)
    page = _text(client.get(HISTORY))
    assert f"Liquidation sale (plan {plan.pk}): 1,700 SSE:600519 贵州茅台 at 10.00" in page
    assert "stamp duty 8.50, transfer fee 0.17" in page
    assert "Liquidation proceeds repaid the financing" in page
    chinese = _text(client.get(HISTORY, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert "强制平仓" in chinese and "印花税 8.50" in chinese
    assert "Liquidation sale" not in chinese

    # and in the API
    response = client.get(f"/api/v1/credit-accounts/{account.pk}/history/")
    assert response.status_code == 200
    body = response.json()
    api_sale = next(r for r in body["results"] if r["category"] == "liquidation_sale")
    assert api_sale["trade"]["price"] == "10.00" and api_sale["trade"]["fees"] == "8.67"
    assert api_sale["liquidation_plan"] == plan.pk
    assert {"account": "cash", "unit": "CNY", "amount": "16991.33", "balance": "28991.33"} in (
        api_sale["movements"]
    )


# --- the CSV is the ledger ----------------------------------------------------------------


def _ledger(account, start=None, end=None) -> dict[tuple[str, str], Decimal]:
    """Sum of the postings of each of the investor's ledger accounts (normal side) over the
    period, straight from custody: {(purpose, unit): amount}."""
    sums = {}
    for ledger in LedgerAccount.objects.filter(investor=account.investor):
        postings = Posting.objects.filter(account=ledger)
        if start:
            postings = postings.filter(entry__effective_date__gte=start)
        if end:
            postings = postings.filter(entry__effective_date__lte=end)
        total = postings.aggregate(total=Sum("amount"))["total"]
        if total is not None:
            sums[(ledger.purpose, ledger.unit)] = total * ledger.normal_sign
    return sums


CSV_ACCOUNT = {
    "cash": "client_money",
    "financing": "financing_receivable",
    "interest": "interest_receivable",
    "shares": "client_securities",
    "entitlement": "entitlement_receivable",
}


def test_the_csv_download_adds_up_to_the_ledgers_postings(liquidated, client):
    account, _plan = liquidated
    # a day of interest on the 23,008.67 still owed, dated tomorrow: outside a period to today
    tomorrow = timezone.localdate() + timedelta(days=1)
    accrual.shard_accrue(business_date=tomorrow, actor=None)
    client.force_login(account.investor.user)
    today = timezone.localdate()

    for query, start, end in (
        ("", None, None),
        (f"&from={today}&to={today}", today, today),
        (f"&from={tomorrow}", tomorrow, None),
    ):
        rows = _csv(client.get(f"{HISTORY}?format=csv{query}"))
        assert rows and set(rows[0]) >= {"entry_id", "account", "unit", "amount", "balance"}
        sums: dict = {}
        for row in rows:
            key = (CSV_ACCOUNT[row["account"]], row["unit"])
            sums[key] = sums.get(key, D(0)) + D(row["amount"])
        assert sums == _ledger(account, start, end), query

    rows = _csv(client.get(f"{HISTORY}?format=csv"))
    # newest first: the first line of each account carries its balance now
    latest = {}
    for row in rows:
        latest.setdefault((row["account"], row["unit"]), D(row["balance"]))
    assert latest[("cash", "CNY")] == D("12000.00")
    assert latest[("financing", "CNY")] == D("23008.67")
    assert latest[("shares", MOUTAI)] == D("2300")
    interest = next(r for r in rows if r["category"] == "interest")
    # 23,008.67 x 6.5 per cent / 360 = 4.15 (the contract's rate for grade B, liquidity high)
    assert (interest["business_date"], interest["amount"]) == (tomorrow.isoformat(), "4.15")
    sale = next(r for r in rows if r["category"] == "liquidation_sale" and r["account"] == "cash")
    assert (sale["price"], sale["stamp_duty"], sale["transfer_fee"]) == ("10.00", "8.50", "0.17")
    assert sale["liquidation_plan"] == str(_plan.pk) and sale["quantity"] == "1700"


# --- the date filter --------------------------------------------------------------------------


def test_the_date_filter_keeps_the_business_days_asked_for(funded_account, client):
    account = funded_account(deposit="500000", own=(), financed=(("SZSE:000001", 10000, "10.00"),))
    today = timezone.localdate()
    days = [today + timedelta(days=n) for n in (1, 2, 3)]
    for day in days:
        accrual.shard_accrue(business_date=day, actor=None)
    client.force_login(account.investor.user)

    def categories(query):
        body = client.get(f"/api/v1/credit-accounts/{account.pk}/history/?{query}").json()
        return [(r["business_date"], r["category"]) for r in body["results"]]

    # 100,000 x 6.5 per cent / 360 = 18.06 a day
    assert categories(f"from={days[1]}&to={days[1]}") == [(days[1].isoformat(), "interest")]
    assert categories(f"from={days[1]}") == [
        (days[2].isoformat(), "interest"),
        (days[1].isoformat(), "interest"),
    ]
    assert categories(f"to={today}") == [
        (today.isoformat(), "financed_buy"),
        (today.isoformat(), "deposit"),
    ]
    # balances run through the filter: the interest owed after the second day is two days'
    rows = _rows(account, period_parsed(days[1], days[1]))
    assert rows[0].movement("interest").balance == D("36.12")

    # the page: the same filter, a bad date named, from after to refused
    page = client.get(HISTORY, {"from": days[1].isoformat(), "to": days[1].isoformat()})
    assert page.status_code == 200 and _text(page).count('data-category="interest"') == 1
    assert "Deposit" not in _text(page)
    bad = client.get(HISTORY, {"from": "2026-13-01"})
    assert bad.status_code == 400 and "is not a date" in _text(bad)
    backwards = client.get(
        f"/api/v1/credit-accounts/{account.pk}/history/?from={days[2]}&to={today}"
    )
    assert backwards.status_code == 400 and backwards.json()["extra"]["field"] == "from"


# --- only the investor's own history ------------------------------------------------------


def test_another_investors_history_is_refused_in_the_portal_and_the_api(
    funded_account, client, staff
):
    mine = funded_account(deposit="1000", own=(), financed=())
    theirs = funded_account(deposit="2000", own=(), financed=())
    client.force_login(mine.investor.user)
    assert client.get(HISTORY, {"account": theirs.pk}).status_code == 404
    assert client.get(HISTORY, {"account": theirs.pk, "format": "csv"}).status_code == 404
    assert client.get(f"/api/v1/credit-accounts/{theirs.pk}/history/").status_code == 404
    own = client.get(f"/api/v1/credit-accounts/{mine.pk}/history/").json()
    assert [m["amount"] for r in own["results"] for m in r["movements"]] == ["1000.00"]
    page = _text(client.get(HISTORY))
    assert "2,000.00" not in page and "1,000.00" in page
    # signed out: the sign-in page, and the API answers 401/403
    client.logout()
    assert client.get(HISTORY).status_code == 302
    assert client.get(f"/api/v1/credit-accounts/{mine.pk}/history/").status_code in (401, 403)
    # staff with the view permissions read any account's history through the API
    client.force_login(staff["auditor"])
    staff_view = client.get(f"/api/v1/credit-accounts/{theirs.pk}/history/")
    assert staff_view.status_code == 200 and staff_view.json()["count"] == 1


# --- deposit instructions -------------------------------------------------------------------


def test_deposit_instructions_name_the_receiving_account_and_the_reference_the_matcher_reads(
    make_credit_account, client, settings
):
    settings.DESK_CLIENT_BANK_NAME = "中国工商银行上海分行"
    bank = custody.house_account("client_bank", "CNY")
    custody.ledger_account_set_external_ref(
        account=bank, external_ref="ICBC-CLIENT-0001", actor=None, reason="test"
    )
    account = make_credit_account()
    investor = account.investor
    client.force_login(investor.user)
    page = client.get("/portal/")
    text = _text(page)
    assert 'data-field="account-number">ICBC-CLIENT-0001<' in text
    assert "中国工商银行上海分行" in text
    reference = re.search(r'data-field="reference">([^<]+)<', text)[1]
    assert reference == account.account_number
    # the reference is what the bank-credit matcher reads: a transfer quoting it is credited
    line = {
        "line_id": "H-1",
        "value_date": timezone.localdate().isoformat(),
        "amount": "5000.00",
        "currency": "CNY",
        "payer_name": investor.real_name,
        "payer_account": investor._test_bank_account,
        "reference": f"deposit {reference}",
    }
    result = bank_credits.bank_credits_import(
        lines=bank_credits.credit_lines_parsed([line]), source="api", actor=None
    )
    assert result.credited == 1
    [row] = _rows(account)
    assert row.category == "deposit" and "bank line H-1" in row.description
    assert row.movement("cash").amount == D("5000.00")


def test_without_a_credit_account_the_portal_says_deposits_wait_for_it(make_investor, client):
    investor = make_investor()
    client.force_login(investor.user)
    text = _text(client.get("/portal/"))
    assert "You can deposit once your credit account is open" in text
    assert 'data-field="reference"' not in text


# --- navigation at each onboarding step -----------------------------------------------------


def _nav_links(client) -> list[str]:
    page = client.get("/portal/").content.decode()
    block = re.search(r'<nav class="subnav".*?</nav>', page, re.S)[0]
    return re.findall(r'href="([^"]+)"', block)


def test_a_new_investors_navigation_shows_only_pages_that_open(
    make_user, make_investor, make_credit_account, client
):
    # signed up, identity not verified yet; verified (a profile); with an open credit account
    signed_up = make_user("investor")
    verified = make_investor().user
    borrower = make_credit_account().investor.user
    seen = {}
    for step, user in (("user", signed_up), ("profile", verified), ("account", borrower)):
        assert nav.step_of(user) == step
        client.force_login(user)
        links = _nav_links(client)
        seen[step] = links
        for url in links:
            status = client.get(url).status_code
            assert status == 200, f"{step}: {url} answers {status}"
    assert "/portal/lending/account/" not in seen["user"] + seen["profile"]
    assert HISTORY not in seen["profile"] and HISTORY in seen["account"]
    # the home page's own links open too, at each step
    for user in (signed_up, verified, borrower):
        client.force_login(user)
        page = client.get("/portal/").content.decode()
        main = re.search(r'<main class="content">.*?</main>', page, re.S)[0]
        for url in set(re.findall(r'href="(/portal/[^"#?]*)"', main)):
            assert client.get(url).status_code == 200, url


def test_the_history_page_and_its_labels_in_chinese(liquidated, client):
    account, _plan = liquidated
    client.force_login(account.investor.user)
    page = client.get(HISTORY, HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = _text(page)
    assert page.status_code == 200
    for chinese in ("账户流水", "现金", "融资负债", "下载 CSV"):
        assert chinese in text, chinese


def test_the_history_endpoint_is_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/credit-accounts/{id}/history/"]["get"]
    assert {"from", "to", "limit", "offset"} <= {p["name"] for p in operation["parameters"]}


def test_a_default_after_selling_everything_shows_as_its_own_line(account, staff, reserve):
    # tests/lending/test_calls_lifecycle.py's collapse: selling everything leaves 123,200.00
    from tests.lending.calls_fixtures import PINGAN, overdue_call

    call = overdue_call(account, staff)
    price_set(MOUTAI, "5.00")
    price_set(PINGAN, "0.50")
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    plan = liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="overdue")
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    for order in Order.objects.filter(liquidation_order__line__plan=plan).order_by("pk"):
        market.fill(order)

    rows = _rows(account)
    default = rows[0]
    assert default.category == "default_covered"
    assert "123,200.00" in default.description
    assert default.movement("financing").amount == D("-123200.00")
    assert default.movement("financing").balance == D("0.00")
    sales = [r for r in rows if r.category == "liquidation_sale"]
    assert sorted((r.trade.instrument, r.trade.price) for r in sales) == [
        (MOUTAI, D("4.97")),
        (PINGAN, D("0.49")),
    ]
