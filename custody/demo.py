"""Demo desk, custody part: house capital, a backup facility, a reserve fund with a target,
client deposits for the demo investors and a matched bank mapping. Idempotent."""

from datetime import date
from decimal import Decimal

from accounts.demo import DEMO_INVESTORS
from accounts.models import InvestorProfile, User

from . import services
from .models import CreditFacility


def seed(stdout) -> None:
    treasury = User.objects.filter(email="treasury@demo.margindesk.local").first()
    services.house_capital_contribute(
        amount="50000000",
        currency="CNY",
        actor=treasury,
        reason="demo paid-in capital",
        idempotency_key="demo:capital",
    )
    services.reserve_fund_contribute(
        amount="2000000",
        currency="CNY",
        actor=treasury,
        reason="demo reserve",
        idempotency_key="demo:reserve",
    )
    services.reserve_target_set(
        currency="CNY",
        target="3000000",
        as_of=date(2026, 1, 2),
        source="demo estimate",
        actor=treasury,
        reason="demo seed",
    )
    if not CreditFacility.objects.filter(bank="Bank of China (demo)").exists():
        services.facility_create(
            bank="Bank of China (demo)",
            limit="20000000",
            currency="CNY",
            start_date=date(2026, 1, 1),
            expiry_date=date(2027, 12, 31),
            fee_rate="0.0025",
            covenants="Net capital >= RMB 1bn; margin lending <= 4x net capital",
            actor=treasury,
            reason="demo seed",
        )
    bank = services.house_account("client_bank", "CNY", actor=treasury)
    if not bank.external_ref:
        services.ledger_account_set_external_ref(
            account=bank, external_ref="ICBC-CLIENT-0001", actor=treasury, reason="demo seed"
        )
    amounts = [Decimal("800000.00"), Decimal("1500000.00")]
    for data, amount in zip(DEMO_INVESTORS, amounts, strict=False):
        investor = InvestorProfile.objects.filter(user__email=data["email"]).first()
        if investor is None:
            continue
        services.client_deposit_post(
            investor=investor,
            amount=amount,
            currency="CNY",
            bank_account=data["bank_account"],
            reference="demo opening deposit",
            actor=treasury,
            idempotency_key=f"demo:deposit:{investor.pk}",
        )
    stdout.write("custody: house capital, reserve fund, facility and client deposits ready")
