import io

import pytest

from custody import selectors

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_balanced(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from accounts import demo as accounts_demo
    from custody import demo

    accounts_demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    first = selectors.trial_balance()
    demo.seed(io.StringIO())
    again = selectors.trial_balance()
    assert first.totals == again.totals and again.balanced
    assert selectors.reserve_adequacy(currency="CNY").ratio is not None
