"""Book services: collateral policy, financed-buy refusals (raised by order_place, the only way
to trade), prices, interest, withdrawals, the desk-wide float rule and sales (orders filled by
the exchange, tests/support/market.py); ledger trial balance zero after each money test."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.errors import Conflict, RuleViolation, ValidationFailed
from custody.models import JournalEntry
from lending.financing import accrual, collection
from lending.financing import services as book
from lending.financing.valuation import account_view
from lending.instruments import services as instruments_services
from lending.models import Financing, InterestAccrual, LatestPrice
from lending.orders import fix_session as fix
from lending.orders import services as orders
from lending.orders.models import Order
from tests.lending.book_fixtures import trial_balance_is_zero
from tests.support import market

pytestmark = pytest.mark.django_db


def _place(account, instrument, quantity, price, key, *, purpose="financed_buy", actor=None):
    return orders.order_place(
        credit_account=account,
        instrument=instrument,
        purpose=purpose,
        quantity=quantity,
        limit_price=price,
        actor=actor,
        idempotency_key=key,
        reason="test",
    )


def test_haircut_above_cap_refused_and_st_forces_zero(funded_account, book_instruments, staff):
    # acceptance 3
    account = funded_account()
    moutai = book_instruments["SSE:600519"]
    with pytest.raises(ValidationFailed) as info:
        instruments_services.haircut_set(
            instrument=moutai, haircut="0.75", actor=staff["risk"], reason="x"
        )
    assert info.value.extra["field"] == "haircut" and "70.00%" in info.value.message
    assert info.value.extra["cap"] == "0.700000"
    moutai.refresh_from_db()
    assert moutai.haircut == Decimal("0.70")
    # an ETF may go to 90%, not beyond
    etf = book_instruments["SSE:510300"]
    instruments_services.haircut_set(
        instrument=etf, haircut="0.90", actor=staff["risk"], reason="policy"
    )
    with pytest.raises(ValidationFailed, match=re.escape("90.00%")):
        instruments_services.haircut_set(
            instrument=etf, haircut="0.91", actor=staff["risk"], reason="policy"
        )

    before = account_view(account)
    assert before.available_margin == Decimal("640000.00")
    instruments_services.instrument_flags_set(
        instrument=moutai, is_st=True, actor=staff["risk"], reason="exchange notice: ST"
    )
    moutai.refresh_from_db()
    assert moutai.haircut == 0 and moutai.is_st
    latest = moutai.history.order_by("-history_id").first()
    assert latest.history_user == staff["risk"] and "ST" in latest.history_change_reason
    after = account_view(account)
    # 800,000 + 200,000 x 0 + 0 - 300,000 = 500,000; collateral value 300,000 x 0.65
    assert after.available_margin == Decimal("500000.00")
    assert after.collateral_value == Decimal("195000")
    assert after.position("SSE:600519").haircut == 0
    # a flagged security cannot get a haircut back
    with pytest.raises(ValidationFailed, match="ST"):
        instruments_services.haircut_set(
            instrument=moutai, haircut="0.50", actor=staff["risk"], reason="x"
        )
    # operations may not change haircuts
    from accounts.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        instruments_services.haircut_set(
            instrument=etf, haircut="0.5", actor=staff["ops"], reason="x"
        )


def test_financed_buy_beyond_available_margin_refused_nothing_written(
    funded_account, book_instruments
):
    # acceptance 4
    account = funded_account()
    entries, financings = JournalEntry.objects.count(), Financing.objects.count()
    placed = Order.objects.count()
    balances_before = account_view(account)
    with pytest.raises(RuleViolation) as info:
        _place(
            account,
            book_instruments["SZSE:000001"],
            70000,
            Decimal("10.00"),
            "too-much",
            actor=account.investor.user,
        )
    assert info.value.code == "insufficient_margin"
    assert (
        "available margin 640,000.00 is below the required 700,000.00 = 700,000.00 × 1"
        in info.value.message
    )
    assert info.value.extra["available_margin"] == "640000.00"
    assert JournalEntry.objects.count() == entries and Financing.objects.count() == financings
    assert Order.objects.count() == placed
    after = account_view(account)
    assert (after.cash, after.financing_debt) == (
        balances_before.cash,
        balances_before.financing_debt,
    )
    assert trial_balance_is_zero()


def test_financed_buy_limit_lots_and_idempotency(funded_account, book_instruments):
    account = funded_account()
    pingan = book_instruments["SZSE:000001"]
    with pytest.raises(RuleViolation, match=re.escape("credit limit 1,000,000.00")) as info:
        _place(account, pingan, 80000, "10.00", "k-limit")
    assert info.value.code == "credit_limit"
    with pytest.raises(ValidationFailed, match="lots of 100"):
        _place(account, pingan, 150, "10.00", "k-lot")
    first = _place(account, pingan, 1000, "10.00", "k-ok")
    again = _place(account, pingan, 1000, "10.00", "k-ok")
    assert first.pk == again.pk and first.reserved_amount == Decimal("10000.00")
    with pytest.raises(Conflict):
        _place(account, pingan, 2000, "10.00", "k-ok")
    market.fill(first)
    assert Financing.objects.get(credit_account=account, quantity=1000).amount == Decimal(
        "10000.00"
    )
    # the same key after the fill still returns the first order, and books nothing more
    assert _place(account, pingan, 1000, "10.00", "k-ok").pk == first.pk
    assert account_view(account).financing_debt == Decimal("310000.00")
    assert trial_balance_is_zero()


def test_concentration_cap_refuses(funded_account, book_instruments):
    account = funded_account(deposit="100000", own=(), financed=())
    # 100,000 cash; buying 70,000 of one security on margin: 70,000 / 170,000 = 41% (ok);
    # 90,000 would be 90,000 / 190,000 = 47.37%: still under 60%; ask for 100,000 (50%) and
    # lower the cap with a dated desk parameter to see it refuse
    from compliance.models import RegulatoryParameter
    from compliance.parameters import CONCENTRATION_CAP

    RegulatoryParameter.objects.create(
        key=CONCENTRATION_CAP, effective_from=timezone.localdate(), value=Decimal("0.40")
    )
    with pytest.raises(RuleViolation, match=re.escape("above the cap of 40.00%")) as info:
        _place(account, book_instruments["SZSE:000001"], 9000, "10.00", "conc")
    assert info.value.code == "concentration" and "47.37%" in info.value.message


def test_prices_idempotent_and_out_of_order_never_overwrite(book_instruments):
    now = timezone.now()
    tick = {"instrument": "600519", "price": "101.50", "at": now.isoformat()}
    assert instruments_services.prices_ingest([tick], source="feed") == (1, 0)
    assert instruments_services.prices_ingest([tick], source="feed") == (0, 1)
    older = {"instrument": "SSE:600519", "price": "99.00", "at": (now - timedelta(minutes=1))}
    unknown = {"instrument": "999999", "price": "1", "at": now}
    assert instruments_services.prices_ingest([older, unknown], source="feed") == (1, 1)
    latest = LatestPrice.objects.get(instrument=book_instruments["SSE:600519"])
    assert (latest.price, latest.at) == (Decimal("101.50"), now)
    newer = {"instrument": "600519", "price": "102", "at": now + timedelta(seconds=1)}
    assert instruments_services.prices_ingest([newer], source="feed") == (1, 0)
    latest.refresh_from_db()
    assert latest.price == Decimal("102")
    with pytest.raises(ValidationFailed, match=r"ticks\[0\].price"):
        instruments_services.prices_ingest(
            [{"instrument": "600519", "price": "x", "at": now}], source="feed"
        )
    # a tick from the far future would pin the latest price: refused, naming the tick
    future = {"instrument": "600519", "price": "1", "at": "9999-12-31T15:00:00+08:00"}
    with pytest.raises(ValidationFailed, match=r"ticks\[1\].at: .* in the future"):
        instruments_services.prices_ingest([newer, future], source="feed")
    latest.refresh_from_db()
    assert latest.price == Decimal("102")


def test_prices_csv_import(book_instruments):
    at = (timezone.now() + timedelta(seconds=1)).isoformat()  # newer than any fixture tick
    content = f"instrument,price,at\nSSE:600519,105.00,{at}\n"
    assert instruments_services.prices_import_csv(content=content) == (1, 0)
    assert instruments_services.prices_import_csv(content=content.encode()) == (0, 1)
    with pytest.raises(ValidationFailed, match="header"):
        instruments_services.prices_import_csv(content="code,px\n")


def test_interest_posted_once_per_day_act_360(funded_account):
    account = funded_account()
    day = timezone.localdate()
    assert accrual.shard_accrue(business_date=day).contracts == 1
    assert accrual.shard_accrue(business_date=day).contracts == 0  # run twice: one entry
    # 300,000.00 x 6.5% / 360 = 54.1666... -> 54.17
    row = InterestAccrual.objects.get(contract__credit_account=account, business_date=day)
    assert row.amount == Decimal("54.17")
    assert JournalEntry.objects.filter(idempotency_key__startswith="interest:").count() == 1
    view = account_view(account)
    assert view.accrued_interest == Decimal("54.17")
    # the next day accrues again
    accrual.shard_accrue(business_date=day + timedelta(days=1))
    assert account_view(account).accrued_interest == Decimal("108.34")
    assert trial_balance_is_zero()
    # monthly collection from cash
    assert collection.interest_collect(month=f"{day:%Y-%m}") == 1
    assert collection.interest_collect(month=f"{day:%Y-%m}") == 0
    view = account_view(account)
    assert view.accrued_interest == 0 and view.cash == Decimal("799891.66")
    assert Financing.objects.get(credit_account=account).interest_paid == Decimal("108.34")
    assert trial_balance_is_zero()


def test_interest_act_360_hand_figure():
    assert accrual.daily_interest(Decimal("1000000.00"), Decimal("0.072")) == Decimal("200.00")
    assert accrual.daily_interest(Decimal("123456.78"), Decimal("0.065")) == Decimal("22.29")


def test_withdrawal_refused_above_300_percent_with_largest_allowed(funded_account):
    account = funded_account()
    user = account.investor.user
    with pytest.raises(RuleViolation) as info:
        book.cash_withdrawal_request(
            credit_account=account, amount="400000.01", actor=user, idempotency_key="w1"
        )
    # A - 3 x D = 1,300,000 - 900,000 = 400,000
    assert "largest allowed is 400,000.00" in info.value.message
    assert info.value.extra["allowed"] == "400000.00"
    request = book.cash_withdrawal_request(
        credit_account=account, amount="400000.00", actor=user, idempotency_key="w2"
    )
    assert request.entry_id is not None
    view = account_view(account)
    assert view.maintenance_ratio == Decimal(3) and view.withdrawable_cash == 0
    # securities: own shares only, within the line (nothing left)
    with pytest.raises(RuleViolation, match="largest allowed is 0"):
        book.securities_withdrawal_request(
            credit_account=account,
            instrument=view.position("SSE:600519").instrument,
            quantity=100,
            actor=user,
            idempotency_key="s1",
        )
    assert trial_balance_is_zero()


def test_no_debt_all_cash_and_securities_withdrawable(funded_account, book_instruments):
    account = funded_account(financed=())
    user = account.investor.user
    book.securities_withdrawal_request(
        credit_account=account,
        instrument=book_instruments["SSE:600519"],
        quantity=2000,
        actor=user,
        idempotency_key="s-all",
    )
    book.cash_withdrawal_request(
        credit_account=account, amount="800000", actor=user, idempotency_key="c-all"
    )
    view = account_view(account)
    assert view.cash == 0 and view.positions == []
    assert trial_balance_is_zero()


def test_float_stop_at_25_and_resume_below_20(funded_account, staff):
    account = funded_account(own=(), financed=())
    small = instruments_services.instrument_create(
        code="603999",
        exchange="SSE",
        name="小盘股",
        category="other_a_share",
        tradable_float=10000,
        collateral_eligible=True,
        haircut="0.50",
        financing_eligible=True,
        actor=None,
    )
    from tests.lending.book_fixtures import price_set

    price_set(small, "10.00")  # float value 100,000
    market.traded(account, small, "financed_buy", 2500, "10.00")  # 25,000 = 25% of float: stop
    small.refresh_from_db()
    assert small.financing_stopped
    with pytest.raises(RuleViolation) as info:
        _place(account, small, 100, "10.00", "f2")
    assert info.value.code == "financing_stopped"
    cash_before = account_view(account).cash
    market.traded(account, small, "sell_to_repay", 300, "10.00")
    # proceeds 3,000.00 all repay principal, nothing to cash
    view = account_view(account)
    assert view.financing_debt == Decimal("22000.00") and view.cash == cash_before
    small.refresh_from_db()
    assert small.financing_stopped  # 22,000 = 22%: still stopped (hysteresis)
    market.traded(account, small, "sell_to_repay", 300, "10.00")
    small.refresh_from_db()
    assert not small.financing_stopped  # 19,000 = 19% < 20%: resumed
    assert trial_balance_is_zero()


def test_sale_repays_interest_then_principal_rest_to_cash(funded_account, book_instruments):
    account = funded_account()
    accrual.shard_accrue(business_date=timezone.localdate())  # 54.17
    order = _place(
        account, book_instruments["SZSE:000001"], 30000, "10.50", "s-1", purpose="sell_to_repay"
    )
    order = market.fill(order, exec_id="sale-1")
    fill = order.fills.get()
    # proceeds 315,000.00: interest 54.17, principal 300,000.00, rest 14,945.83 to cash
    assert (fill.turnover, fill.price) == (Decimal("315000.00"), Decimal("10.50"))
    financing = Financing.objects.get(credit_account=account)
    assert (financing.interest_paid, financing.principal_outstanding) == (Decimal("54.17"), 0)
    # the exchange sending the same report again (same exec id) books nothing more
    again = market.report(
        order,
        exec_type=fix.EXEC_TRADE,
        ord_status=fix.STATUS_FILLED,
        last_qty=Decimal(30000),
        last_px=Decimal("10.50"),
        exec_id="sale-1",
    )
    assert market.deliver(again) == 0
    # placing the same sale again with its key returns the first order
    assert (
        _place(
            account, book_instruments["SZSE:000001"], 30000, "10.50", "s-1", purpose="sell_to_repay"
        ).pk
        == order.pk
    )
    view = account_view(account)
    assert view.financing_debt == 0 and view.accrued_interest == 0
    assert view.cash == Decimal("814945.83") and view.maintenance_ratio is None
    assert Financing.objects.get(credit_account=account).status == "repaid"
    assert trial_balance_is_zero()


def test_plain_sale_credits_cash_and_leaves_the_debt(funded_account, book_instruments):
    """A "sell" order's proceeds go to cash; only "sell_to_repay" (and liquidation) repay."""
    account = funded_account()
    accrual.shard_accrue(business_date=timezone.localdate())  # 54.17
    order = market.traded(account, book_instruments["SZSE:000001"], "sell", 10000, "10.50")
    assert order.status == "filled" and order.fills.get().turnover == Decimal("105000.00")
    view = account_view(account)
    assert view.cash == Decimal("905000.00")
    assert view.financing_debt == Decimal("300000.00") and view.accrued_interest == Decimal("54.17")
    financing = Financing.objects.get(credit_account=account)
    assert financing.quantity_held == 20000 and financing.interest_paid == 0
    assert trial_balance_is_zero()


def test_repayment_from_cash_oldest_first(funded_account, book_instruments):
    account = funded_account(
        financed=(("SZSE:000001", 10000, "10.00"), ("SSE:510300", 10000, "4.000"))
    )
    result = book.repayment_post(
        credit_account=account, amount="120000", actor=None, idempotency_key="r1"
    )
    assert (result.interest_repaid, result.principal_repaid) == (0, Decimal("120000.00"))
    rows = list(Financing.objects.filter(credit_account=account).order_by("pk"))
    assert [r.principal_outstanding for r in rows] == [Decimal("0.00"), Decimal("20000.00")]
    assert rows[0].status == "repaid"
    with pytest.raises(RuleViolation, match="more than is owed"):
        book.repayment_post(
            credit_account=account, amount="20000.01", actor=None, idempotency_key="r2"
        )
    # a retry with the same key gets the first result; the same key for another amount is a
    # conflict naming the key, and moves nothing
    again = book.repayment_post(
        credit_account=account, amount="120000", actor=None, idempotency_key="r1"
    )
    assert again == result
    with pytest.raises(
        Conflict, match=re.escape("'r1' was already used for a repayment of 120,000.00")
    ):
        book.repayment_post(credit_account=account, amount="1000", actor=None, idempotency_key="r1")
    assert account_view(account).financing_debt == Decimal("20000.00")
    assert trial_balance_is_zero()


def test_buy_blocked_by_new_disclosure(funded_account, book_instruments):
    account = funded_account(financed=())
    from compliance import services as compliance_services

    compliance_services.disclosure_publish(title="v2", content="new terms v2", actor=None)
    with pytest.raises(RuleViolation) as info:
        _place(account, book_instruments["SZSE:000001"], 100, "10", "blocked")
    assert info.value.code == "drawdown_blocked"


def test_contract_past_end_refuses(funded_account, book_instruments):
    account = funded_account(financed=())
    contract = account.contracts.get()
    type(contract).objects.filter(pk=contract.pk).update(
        starts_on=date(2020, 1, 1), ends_on=date(2020, 6, 1)
    )
    with pytest.raises(RuleViolation, match="ended on 2020-06-01"):
        _place(account, book_instruments["SZSE:000001"], 100, "10", "ended")


def test_absurd_magnitudes_are_refused_naming_the_field(funded_account, book_instruments):
    account = funded_account(financed=())
    instrument = book_instruments["SZSE:000001"]
    cases = (
        ({"quantity": "1e30", "limit_price": "10"}, "quantity"),
        ({"quantity": "100", "limit_price": "1e20"}, "limit_price"),
        ({"quantity": "100000000000", "limit_price": "99999"}, "quantity"),  # 10^11 x 10^5
    )
    for given, field in cases:
        with pytest.raises(ValidationFailed) as bad:
            orders.order_place(
                credit_account=account, instrument=instrument, purpose="financed_buy",
                actor=None, idempotency_key=f"big-{field}-{given['quantity']}", **given,
            )  # fmt: skip
        assert bad.value.extra == {"field": field} and "too large" in str(bad.value)
    assert not Order.objects.filter(credit_account=account, purpose="financed_buy").exists()
    assert not Financing.objects.filter(credit_account=account).exists()
