"""Limits of short sales (issue 22 item 5): the desk-wide float stop and the account's
single-security concentration cap (lending.financing.short_sales), through order placement.

Float stop, worked by hand: SSE:600519's tradable float set to 10,000 shares (short_desk's
inventory is 10,000 too); the dated stop 25% = 2,500 shares.
    account A sold 2,000 short (balance 2,000 = 20.00%), then places 400 left working;
    100 more: (2,000 + 400 + 100) / 10,000 = 25.00% >= 25% -> refused
    account B, 100: the same 25.00% -> refused (desk-wide)
    A's working 400 cancelled: B's 100 is (2,000 + 0 + 100) / 10,000 = 21.00% -> placed
    A covers 600: balance 1,400, working 100; A's 1,000: 2,500 / 10,000 = 25.00% -> refused;
    A's 900: 2,400 / 10,000 = 24.00% -> placed

Concentration, worked by hand: the dated cap set to 25% from today; deposit 50,000.00;
SSE:600519 at 20.00.
    1,000 short: 20,000 / (50,000 + 20,000) = 28.57% > 25% -> refused
    800 short: 16,000 / 66,000 = 24.24% -> placed and filled
    100 more: (16,000 + 2,000) / (66,000 + 2,000) = 26.47% > 25% -> refused
"""

from decimal import Decimal

import pytest

from accounts.errors import RuleViolation
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from compliance import services as compliance_services
from lending.instruments.models import Instrument
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal


def test_short_sales_stop_at_a_quarter_of_the_tradable_float(short_desk, short_account):
    Instrument.objects.filter(pk=short_desk.pk).update(tradable_float=10000)
    a = short_account(deposit="100000")
    b = short_account(deposit="100000")
    market.traded(a, short_desk, "short_sale", 2000, "20.00")
    working = market.place(a, short_desk, "short_sale", 400, "20.00")  # left working
    with pytest.raises(RuleViolation) as stopped:
        market.place(a, short_desk, "short_sale", 100, "20.00")
    refused = stopped.value
    assert refused.code == "short_float_stop" and refused.extra["field"] == "instrument"
    assert (refused.extra["short_balance"], refused.extra["working"]) == ("2000", "400")
    assert refused.extra["tradable_float"] == "10000"
    assert D(refused.extra["share"]) == D("0.25") and D(refused.extra["stop"]) == D("0.25")
    assert D(refused.extra["resume"]) == D("0.20")
    message = str(refused)
    assert message.startswith("instrument: short sales of SSE:600519 are stopped")
    for figure in ("2,000 shares", "400 in working", "this 100", "25.00%", "10,000 shares"):
        assert figure in message
    assert "20.00%" in message  # the resume threshold named
    with pytest.raises(RuleViolation) as desk_wide:
        market.place(b, short_desk, "short_sale", 100, "20.00")
    assert desk_wide.value.code == "short_float_stop"
    market.close(working, "4")  # cancelled: its shares no longer count
    market.place(b, short_desk, "short_sale", 100, "20.00")  # 21.00%: placed
    # a cover brings the balance down: new short sales fit again, up to the stop
    market.traded(a, short_desk, "buy_to_cover", 600, "20.00")
    with pytest.raises(RuleViolation) as at_stop:
        market.place(a, short_desk, "short_sale", 1000, "20.00")
    assert at_stop.value.extra["short_balance"] == "1400"
    assert at_stop.value.extra["working"] == "100"
    assert market.place(a, short_desk, "short_sale", 900, "20.00").pk is not None  # 24.00%


def test_a_stop_reached_holds_until_the_balance_falls_below_a_fifth(short_desk, short_account):
    """Hysteresis, worked by hand: float 10,000; A owes 2,000 (20%). The float is cut to 8,000
    (an exchange correction): 2,000 / 8,000 = 25% -> the next check records the stop. A covers
    300: 1,700 / 8,000 = 21.25%, still stopped (not below 20%); B's 100 refused as stopped.
    A covers 200 more: 1,500 / 8,000 = 18.75% < 20% -> resumed; B's 100 placed (20.00%)."""
    Instrument.objects.filter(pk=short_desk.pk).update(tradable_float=10000)
    a = short_account(deposit="100000")
    b = short_account(deposit="100000")
    market.traded(a, short_desk, "short_sale", 2000, "20.00")
    Instrument.objects.filter(pk=short_desk.pk).update(tradable_float=8000)
    with pytest.raises(RuleViolation) as first:
        market.place(b, short_desk, "short_sale", 100, "20.00")
    assert first.value.code == "short_float_stop"
    short_desk.refresh_from_db()
    assert short_desk.shorts_stopped is True
    reasons = list(short_desk.history.values_list("history_change_reason", flat=True))
    assert any("short sales stopped" in (r or "") for r in reasons), reasons
    market.traded(a, short_desk, "buy_to_cover", 300, "20.00")
    short_desk.refresh_from_db()
    assert short_desk.shorts_stopped is True  # 21.25%: not below the resume line
    with pytest.raises(RuleViolation) as still:
        market.place(b, short_desk, "short_sale", 100, "20.00")
    assert still.value.extra["stopped"] is True
    assert D(still.value.extra["share"]) == D("0.2125")
    assert "resume below 20.00%" in str(still.value)
    market.traded(a, short_desk, "buy_to_cover", 200, "20.00")
    short_desk.refresh_from_db()
    assert short_desk.shorts_stopped is False  # 18.75%
    assert market.place(b, short_desk, "short_sale", 100, "20.00").pk is not None


def test_a_short_sale_over_the_concentration_cap_is_refused(short_desk, short_account):
    compliance_services.parameter_add(
        key=P.CONCENTRATION_CAP,
        effective_from=compliance_selectors.today(),
        value=D("0.25"),
        source="test: a lower single-security cap",
        actor=None,
    )
    account = short_account(deposit="50000")
    with pytest.raises(RuleViolation) as over:
        market.place(account, short_desk, "short_sale", 1000, "20.00")
    refused = over.value
    assert refused.code == "concentration" and refused.extra["field"] == "instrument"
    assert refused.extra["side"] == "short" and D(refused.extra["cap"]) == D("0.25")
    assert "28.57%" in str(refused) and "20,000.00 of 70,000.00" in str(refused)
    market.traded(account, short_desk, "short_sale", 800, "20.00")  # 24.24%
    with pytest.raises(RuleViolation) as again:
        market.place(account, short_desk, "short_sale", 100, "20.00")
    assert again.value.code == "concentration"
    assert "26.47%" in str(again.value) and "18,000.00 of 68,000.00" in str(again.value)
