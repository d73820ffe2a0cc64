"""The demo seed builds a book with accounts under the lines, and twice changes nothing."""

import io

import pytest

pytestmark = pytest.mark.django_db


def test_demo_seed_book_shows_calls_and_is_idempotent():
    from accounts import demo as accounts_demo
    from compliance import demo as compliance_demo
    from custody.models import JournalEntry
    from custody.selectors import trial_balance
    from lending import demo
    from lending.financing.valuation import account_view
    from lending.models import CreditAccount, Financing, Instrument, MarginCall, Notice
    from lending.orders.models import Fill, Order

    out = io.StringIO()
    accounts_demo.seed(out)
    compliance_demo.seed(out)
    demo.seed(out)
    assert Instrument.objects.count() > 250
    assert Instrument.objects.filter(is_st=True, haircut=0).exists()
    assert Instrument.objects.filter(suspended=True).exists()
    calls = MarginCall.objects.count()
    assert calls >= 1  # accounts seeded under the call line start with an open call
    counts = (
        Instrument.objects.count(),
        Financing.objects.count(),
        JournalEntry.objects.count(),
        calls,
        Notice.objects.count(),
    )
    assert counts[1] >= 12
    # positions came from orders filled at the latest price (fees and all); two left working
    assert Fill.objects.count() == Order.objects.filter(status="filled").count() >= 12
    assert Order.objects.filter(status="new").count() == 2
    orders = Order.objects.count()
    ratios = sorted(
        account_view(a).maintenance_ratio
        for a in CreditAccount.objects.all()
        if account_view(a).maintenance_ratio is not None
    )
    assert ratios[0] < 1.30 and any(1.30 <= r < 1.40 for r in ratios)
    demo.seed(out)
    assert (
        Instrument.objects.count(),
        Financing.objects.count(),
        JournalEntry.objects.count(),
        MarginCall.objects.count(),
        Notice.objects.count(),
    ) == counts
    assert Order.objects.count() == orders
    assert trial_balance().balanced
    # each exchange's two lists are in force (imported once, the rerun changed nothing), with
    # the codes the desk does not carry reported
    from lending.models import ExchangeListImport

    imports = ExchangeListImport.objects.all()
    assert sorted(imports.values_list("exchange", "kind")) == [
        ("SSE", "eligible_collateral"),
        ("SSE", "financing_target"),
        ("SSE", "short_target"),
        ("SZSE", "eligible_collateral"),
        ("SZSE", "financing_target"),
        ("SZSE", "short_target"),
    ]
    assert all(len(i.unknown_codes) == 1 for i in imports.exclude(kind="short_target"))
    # securities lending: inventory from the custodian's confirmations and one short sale,
    # booked once (the rerun above added no order)
    from lending.models import LendingLot, ShortPosition

    assert LendingLot.objects.count() == 4
    short = ShortPosition.objects.get()
    assert short.status == "open" and short.quantity_outstanding > 0
