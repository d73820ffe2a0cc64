"""Restricted short proceeds invested (issue 22 item 2): an own-cash buy of a money-market fund
or government bond is paid from the restricted proceeds first; the units so bought stay
restricted while short positions are open, their sale restricts its proceeds again, and the
last close frees them. Fees of zero (short_desk), SSE:600519 at 20.00, lending fee 8.35 per
cent a year, ACT/360.

Worked by hand:
    deposit 50,000.00; short sale 1,000 @ 20.00: restricted proceeds 20,000.00
    buy 10,000 units of SSE:511880 (money-market fund) @ 1.000 = 10,000.00: all from the
      restricted proceeds -> proceeds 10,000.00, free cash 50,000.00; 10,000 units restricted,
      cost 10,000.00
    withdrawing any of those units: refused (quantity)
    sell 4,000 units @ 1.000 = 4,000.00: the restricted units go first, 4,000.00 back to the
      restricted proceeds -> proceeds 14,000.00, free cash 50,000.00; 6,000 units / 6,000.00
    buy to cover 1,000 @ 20.00 = 20,000.00: 14,000.00 from the proceeds, 6,000.00 from the free
      cash; lending fee one day (opened and closed the same day) round(20,000 x 0.0835 / 360, 2)
      = 4.64 -> free cash 50,000 - 6,000 - 4.64 = 43,995.36; nothing restricted; the 6,000
      units are free (holding 0) and may be withdrawn
"""

from decimal import Decimal

import pytest

from accounts.errors import RuleViolation
from custody.models import LedgerAccount
from custody.selectors import account_balance
from lending.financing import services as book
from lending.financing import short_sales
from lending.instruments import services as instruments_services
from lending.shorts.models import RestrictedHolding, ShortPosition
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def money_market(db):
    fund = instruments_services.instrument_create(
        code="511880",
        exchange="SSE",
        name="银华日利",
        category="money_market_govt",
        tradable_float=1_000_000_000,
        collateral_eligible=True,
        haircut=D("0.95"),
        actor=None,
        reason="test fixture",
    )
    price_set(fund, "1.000")
    return fund


def _balance(account, purpose: str, unit: str = "CNY") -> Decimal:
    ledger = LedgerAccount.objects.filter(
        investor=account.investor, purpose=purpose, unit=unit
    ).first()
    return account_balance(account=ledger) if ledger else D(0)


def _holding(account, instrument):
    row = RestrictedHolding.objects.filter(credit_account=account, instrument=instrument).first()
    return (row.quantity, row.amount) if row else (D(0), D(0))


def _withdraw(account, instrument, quantity, key):
    return book.securities_withdrawal_request(
        credit_account=account,
        instrument=instrument,
        quantity=quantity,
        actor=account.investor.user,
        idempotency_key=key,
        reason="to my other broker",
    )


def test_proceeds_buy_money_market_units_that_stay_restricted_until_the_last_close(
    short_desk, short_account, money_market, client
):
    account = short_account(deposit="50000")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    assert _balance(account, "short_proceeds") == D("20000.00")

    market.traded(account, money_market, "cash_buy", 10000, "1.000")
    assert _balance(account, "short_proceeds") == D("10000.00")
    assert _balance(account, "client_money") == D("50000.00")
    assert _balance(account, "client_securities", "SSE:511880") == D(10000)
    assert _holding(account, money_market) == (D(10000), D("10000.00"))
    assert trial_balance_is_zero()

    # the restricted units are not the investor's to take out
    for n, quantity in enumerate((10000, 100)):
        with pytest.raises(RuleViolation) as refused:
            _withdraw(account, money_market, quantity, f"mmf-out-{n}")
        assert refused.value.extra["field"] == "quantity"
        assert refused.value.code == "restricted_holding"
        assert str(refused.value).startswith("quantity: ")

    # the portal shows them under the restricted proceeds
    client.force_login(account.investor.user)
    html = client.get("/portal/lending/shorts/positions/").content.decode()
    assert 'id="restricted-holdings"' in html and 'data-instrument="SSE:511880"' in html
    assert "10,000.00" in html

    market.traded(account, money_market, "sell", 4000, "1.000")
    assert _balance(account, "short_proceeds") == D("14000.00")
    assert _balance(account, "client_money") == D("50000.00")
    assert _holding(account, money_market) == (D(6000), D("6000.00"))
    assert trial_balance_is_zero()

    market.traded(account, short_desk, "buy_to_cover", 1000, "20.00")
    position = ShortPosition.objects.get(credit_account=account)
    assert position.status == "closed" and position.fee_paid == D("4.64")
    assert _balance(account, "short_proceeds") == D("0.00")
    assert _balance(account, "client_money") == D("43995.36")
    assert _holding(account, money_market) == (D(0), D(0))
    holding = RestrictedHolding.objects.get(credit_account=account, instrument=money_market)
    assert "no open short position left" in holding.history.latest().history_change_reason
    assert trial_balance_is_zero()

    # free now: the units may be transferred out
    request = _withdraw(account, money_market, 6000, "mmf-out-free")
    assert request.quantity == D(6000)
    assert _balance(account, "client_securities", "SSE:511880") == D(0)
    assert trial_balance_is_zero()


def test_the_buy_may_spend_cash_and_proceeds_but_no_more(short_desk, short_account, money_market):
    account = short_account(deposit="50000")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    # 50,000 free + 20,000 restricted: 75,000 units too many
    with pytest.raises(RuleViolation) as refused:
        market.place(account, money_market, "cash_buy", 75000, "1.000")
    assert refused.value.code == "insufficient_cash"
    # any other instrument: the free cash only
    with pytest.raises(RuleViolation) as refused:
        market.place(account, short_desk, "cash_buy", 2600, "20.00")
    assert refused.value.code == "insufficient_cash"

    # 30,000: 20,000 from the proceeds, 10,000 from the free cash
    market.traded(account, money_market, "cash_buy", 30000, "1.000")
    assert _balance(account, "short_proceeds") == D("0.00")
    assert _balance(account, "client_money") == D("40000.00")
    assert _holding(account, money_market) == (D(20000), D("20000.00"))
    # 10,000 units are free: withdrawn; the rest stays
    _withdraw(account, money_market, 10000, "mmf-part")
    with pytest.raises(RuleViolation) as refused:
        _withdraw(account, money_market, 100, "mmf-more")
    assert refused.value.code == "restricted_holding"
    assert trial_balance_is_zero()


def test_a_direct_return_may_not_use_restricted_units(
    short_desk, short_account, money_market, staff
):
    """The restricted units are subtracted from the own units a direct return may use: the
    money-market fund itself shorted, then bought with the proceeds."""
    from compliance import selectors as compliance_selectors
    from lending.instruments import exchange_lists
    from lending.shorts import proceeds
    from lending.shorts import services as inventory

    exchange_lists.exchange_list_import(
        exchange="SSE",
        kind="short_target",
        effective_on=compliance_selectors.today(),
        file_name="sse-short-targets.csv",
        content="code\n600519\n511880\n",
        actor=staff["risk"],
        reason="daily exchange list",
    )
    inventory.inventory_house_add(
        instrument=money_market,
        quantity="10000",
        confirmation_reference="CSDC-MMF-1",
        actor=staff["ops"],
        reason="house units confirmed by the custodian",
    )
    account = short_account(deposit="50000")
    market.traded(account, money_market, "short_sale", 1000, "1.000")
    market.traded(account, money_market, "cash_buy", 1000, "1.000")
    assert proceeds.restricted_quantity(account, money_market) == D(1000)
    assert _balance(account, "short_proceeds") == D("0.00")
    with pytest.raises(RuleViolation) as refused:
        short_sales.short_return_direct(
            credit_account=account,
            instrument=money_market,
            quantity=100,
            actor=account.investor.user,
            idempotency_key="mmf-return",
        )
    assert refused.value.extra["field"] == "quantity"
    assert refused.value.code == "insufficient_securities"
