"""Stress tests with the short side (issue 22): a rising market hurts shorts. The stress run
values the book's short rows (lending.mtm.book_arrays) with the short margin ratio, so a rise
lowers a short-only account's ratio and raises the stressed loss, while a long account gains.

Worked by hand (SSE:600519, fees of zero, short margin ratio 100 per cent):
    short account: deposit 20,000.00, short 1,000 @ 20.00 (restricted proceeds 20,000.00);
      the price rises to 30.00: assets 40,000.00, liabilities 30,000.00, ratio 133.33%
      market -10% (27.00): 40,000 / 27,000 = 148.15%, no shortfall
      market +20% (36.00): 40,000 / 36,000 = 111.11% (call), no shortfall
      market +50% (45.00): 40,000 / 45,000 = 88.89%, shortfall 45,000 - 40,000 = 5,000.00
    long account: deposit 320,000.00, financed 30,000 SZSE:000001 @ 10.00 (300,000.00):
      620,000 / 300,000 = 206.67%; market +50% (15.00): 770,000 / 300,000 = 256.67%
"""

from decimal import Decimal

import pytest

from lending.risk import services as risk
from tests.lending.book_fixtures import price_set
from tests.support import market

pytestmark = pytest.mark.django_db

PINGAN = "SZSE:000001"


def executed(actor, scenarios):
    run = risk.risk_run_start(
        kind="stress",
        actor=actor,
        reason="desk review",
        parameters={"scenarios": scenarios, "history": ""},
    )
    return risk.risk_run_execute(run_id=run.pk)


def test_a_rising_market_lowers_a_short_accounts_ratio_and_raises_the_stressed_loss(
    short_desk, short_account, funded_account, staff
):
    short = short_account(deposit="20000")
    market.traded(short, short_desk, "short_sale", 1000, "20.00")
    long = funded_account(deposit="320000", own=(), financed=((PINGAN, 30000, "10.00"),))
    price_set(short_desk, "30.00")

    book = risk.load_book()
    i = int((book.credit_account_ids == short.pk).nonzero()[0][0])
    assert book.short_margin_ratio[i] == 1.0
    assert book.book.quantity[book.book.account == i].tolist() == [-1000.0]

    falling = executed(staff["risk"], [{"name": "market -10%", "market_move": -0.10}])
    assert falling.status == "succeeded", falling.error
    rows = {r["account_number"]: r for r in falling.results["scenarios"][0]["accounts"]}
    assert rows[short.account_number]["ratio_before"] == "1.333333"
    assert rows[short.account_number]["ratio"] == "1.481481"  # a fall helps the short
    assert falling.stressed_loss == Decimal("0.00")

    rising = executed(
        staff["risk"],
        [
            {"name": "market +20%", "market_move": 0.20},
            {"name": "market +50%", "market_move": 0.50},
        ],
    )
    assert rising.status == "succeeded", rising.error
    plus_20, plus_50 = rising.results["scenarios"]
    row = {r["account_number"]: r for r in plus_20["accounts"]}[short.account_number]
    assert (row["ratio"], row["state"], row["shortfall"]) == ("1.111111", "call", "0.00")
    rows = {r["account_number"]: r for r in plus_50["accounts"]}
    row = rows[short.account_number]
    assert row["ratio_before"] == "1.333333" and row["ratio"] == "0.888889"
    assert (row["assets"], row["liabilities"]) == ("40000.00", "45000.00")
    assert (row["equity"], row["shortfall"]) == ("-5000.00", "5000.00")
    assert row["wiped_out"] is True and row["state"] == "call"
    # the long account gains from the same rise
    assert rows[long.account_number]["ratio_before"] == "2.066667"
    assert rows[long.account_number]["ratio"] == "2.566667"
    assert plus_50["total_shortfall"] == "5000.00"
    assert rising.stressed_loss == rising.total_shortfall == Decimal("5000.00")
    assert rising.stressed_loss > falling.stressed_loss


def test_the_default_scenarios_include_a_rising_market(db):
    params = risk.parameters_normalize("stress", {})
    rising = [s for s in params["scenarios"] if s["market_move"] > 0]
    assert [s["name"] for s in rising] == ["market +20%"]
    assert str(risk.scenario_label("market +20%")) == "Market +20%"
