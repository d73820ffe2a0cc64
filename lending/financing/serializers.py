"""API shapes of what is booked on an account (withdrawals, financings). Money,
prices and ratios are decimal strings; no rules here."""

from rest_framework import serializers

from accounts.api_fields import money_field, quantity_field
from accounts.precision import RATIO
from lending.common.api import decimal_text
from lending.financing.models import WithdrawalKind

RATIO_QUANTUM = RATIO.quantum


class RepaymentInSerializer(serializers.Serializer):
    amount = money_field(help_text="Cash to repay: interest first, then the oldest financing")
    reason = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="Staff: the reference of the investor's written instruction",
    )


class RepaymentOutSerializer(serializers.Serializer):
    interest_repaid = serializers.CharField()
    principal_repaid = serializers.CharField()
    total = serializers.CharField()


class WithdrawalInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=WithdrawalKind.choices, default=WithdrawalKind.CASH)
    amount = money_field(required=False, help_text="Cash to pay out (kind cash)")
    instrument = serializers.CharField(max_length=24, required=False)
    quantity = quantity_field(required=False, help_text="Whole shares (kind securities)")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


def financing_data(f) -> dict:
    return {
        "id": f.pk,
        "instrument": f.instrument.ledger_unit,
        "quantity": decimal_text(f.quantity.normalize()),
        "price": decimal_text(f.price),
        "amount": decimal_text(f.amount),
        "principal_outstanding": decimal_text(f.principal_outstanding),
        "interest_accrued": decimal_text(f.interest_accrued),
        "opened_on": f.opened_on.isoformat(),
        "due_on": f.due_on.isoformat(),
        "status": f.status,
    }


def withdrawal_data(w) -> dict:
    return {
        "id": w.pk,
        "kind": w.kind,
        "amount": decimal_text(w.amount),
        "instrument": w.instrument.ledger_unit if w.instrument_id else None,
        "quantity": decimal_text(w.quantity.normalize()) if w.quantity is not None else None,
        "created_at": w.created_at.isoformat(),
    }


class FinancingOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    instrument = serializers.CharField()
    quantity = serializers.CharField()
    price = serializers.CharField()
    amount = serializers.CharField()
    principal_outstanding = serializers.CharField()
    interest_accrued = serializers.CharField()
    opened_on = serializers.DateField()
    due_on = serializers.DateField()
    status = serializers.CharField()


class WithdrawalOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    amount = serializers.CharField(allow_null=True)
    instrument = serializers.CharField(allow_null=True)
    quantity = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class BankCreditLineSerializer(serializers.Serializer):
    line_id = serializers.CharField(max_length=64, help_text="The bank's id of the line")
    value_date = serializers.DateField()
    amount = money_field(help_text="Decimal string, e.g. 10000.00")
    currency = serializers.CharField(max_length=3, default="CNY")
    payer_name = serializers.CharField(max_length=120)
    payer_account = serializers.CharField(max_length=40)
    reference = serializers.CharField(
        max_length=140, help_text="Carries the investor's credit account number (CA…)"
    )


class BankCreditsInSerializer(serializers.Serializer):
    lines = BankCreditLineSerializer(many=True)


class BankCreditsResultSerializer(serializers.Serializer):
    credited = serializers.IntegerField()
    held = serializers.IntegerField()
    unmatched = serializers.IntegerField()
    already_booked = serializers.IntegerField()


class BankCreditOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bank_line_id = serializers.CharField()
    value_date = serializers.DateField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    payer_account = serializers.CharField()
    reference = serializers.CharField()
    status = serializers.CharField()
    investor = serializers.IntegerField(allow_null=True)


def bank_credit_data(c) -> dict:
    return {
        "id": c.pk,
        "bank_line_id": c.bank_line_id,
        "value_date": c.value_date.isoformat(),
        "amount": decimal_text(c.amount),
        "currency": c.currency,
        "payer_account": c.payer_account_masked,
        "reference": c.reference,
        "status": c.status,
        "investor": c.investor_id,
    }
