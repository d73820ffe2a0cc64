"""The demo seed (accounts, compliance, lending) runs twice without duplicating anything."""

import io

import pytest

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_leaves_contracts_to_hang_a_book_on():
    from accounts import demo as accounts_demo
    from compliance import demo as compliance_demo
    from compliance import selectors
    from lending import demo as lending_demo
    from lending.models import CreditAccount, CreditContract

    for _ in range(2):
        out = io.StringIO()
        accounts_demo.seed(out)
        compliance_demo.seed(out)
        lending_demo.seed(out)
    contracts = CreditContract.objects.select_related("investor__user", "credit_account")
    emails = [c.investor.user.email for c in contracts]
    assert {"zhang.wei@demo.margindesk.local", "li.na@demo.margindesk.local"} <= set(emails)
    assert len(emails) == len(set(emails))  # one contract per investor, even seeded twice
    assert CreditAccount.objects.count() == len(emails)
    for contract in contracts:
        assert contract.credit_account.account_name == contract.investor.real_name
        assert selectors.may_draw_down(contract.investor)
    zhang = contracts.get(investor__user__email="zhang.wei@demo.margindesk.local")
    assert selectors.latest_assessment(zhang.investor).risk_class == 4
