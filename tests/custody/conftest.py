from decimal import Decimal

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Users are fixtures here, not the subject: skip the deliberately slow PBKDF2 rounds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def treasury(make_user):
    return make_user("treasury")


@pytest.fixture
def funded_investor(make_investor, treasury):
    """An investor with 1,000.00 CNY of client money deposited from the bank of record."""
    from custody import services

    counter = iter(range(1, 10**6))

    def _make(amount: str = "1000.00", **overrides):
        overrides.setdefault("bank_account", f"62288800{next(counter):011d}")
        bank_account = overrides["bank_account"]
        investor = make_investor(**overrides)
        services.client_deposit_post(
            investor=investor,
            amount=Decimal(amount),
            currency="CNY",
            bank_account=bank_account,
            reference="initial deposit",
            actor=treasury,
            idempotency_key=f"test-deposit-{investor.pk}",
        )
        return investor

    return _make
