"""Fixtures shared by the lending tests only (the book, call and mark-to-market fixtures that
other directories use too are plugins: tests/conftest.py)."""

import pytest

from tests.lending.book_fixtures import price_set


@pytest.fixture
def five_x(funded_account):
    """A 5x account: all its assets in shares, assets / own equity = 5.

    Deposit 500,000.00; own-cash purchase 5,000 SSE:600519 @ 100.00 (cash 0); drawdown 30,000
    SZSE:000001 @ 10.00 (debt 300,000.00). Prices then fall to 45.00 and 5.00: assets
    5,000 x 45 + 30,000 x 5 = 375,000.00, equity 75,000.00, leverage 375,000 / 75,000 = 5
    (ratio 125%). Used by test_risk_services.py and test_risk_web.py."""
    account = funded_account(
        deposit="500000",
        own=(("SSE:600519", 5000, "100.00"),),
        financed=(("SZSE:000001", 30000, "10.00"),),
    )
    price_set("SSE:600519", "45.00")
    price_set("SZSE:000001", "5.00")
    return account
