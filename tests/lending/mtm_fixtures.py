"""The mark-to-market book shared by the in-process, worker (tests/integration) and fault
(tests/faults) tests of the runs: `mtm_book`, and `expected_calls`, the calls computed
independently of the run.

A pytest plugin (`pytest_plugins` in tests/conftest.py): `mtm_book` is available to every test
without an import; `expected_calls` and SPREAD are imported by name."""

import pytest

from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, PINGAN

# (deposit, own MOUTAI qty): at MOUTAI 48.00 / PINGAN 5.80 with 140,000 financed the ratios are
# 126.6% (call), 126.6% (call), 130.1% (warning), 137.3% (warning), 144.4% (normal)
SPREAD = (("200000", 2000), ("200000", 2000), ("205000", 2000), ("215000", 2000), ("225000", 2000))


@pytest.fixture
def mtm_book(funded_account, make_credit_account):
    """Seven accounts: the SPREAD, a healthy default funded account, one without debt."""
    accounts = [
        funded_account(
            deposit=deposit, own=((MOUTAI, qty, "100.00"),), financed=((PINGAN, 14000, "10.00"),)
        )
        for deposit, qty in SPREAD
    ]
    accounts.append(funded_account())
    accounts.append(funded_account(deposit="50000", own=((MOUTAI, 100, "100.00"),), financed=()))
    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    return accounts


def expected_calls(accounts) -> set[int]:
    """Independently: account_view + margin.classify per account."""
    from lending.domain import margin
    from lending.financing.valuation import account_view
    from lending.models import CreditAccount

    out = set()
    for account in accounts:
        view = account_view(CreditAccount.objects.get(pk=account.pk))
        if margin.classify(view.maintenance_ratio, view.lines) == margin.MarginState.CALL:
            out.add(account.pk)
    return out
