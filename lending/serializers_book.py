"""Serializers of the book API. Money, prices and ratios are decimal strings; no rules here."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_fields import MONEY_DIGITS, MONEY_PLACES, money_field, price_field, quantity_field

from .models import Instrument, InstrumentCategory, WithdrawalKind

RATIO_QUANTUM = Decimal("0.000001")


def _s(value: Decimal | None, quantum: str | None = None) -> str | None:
    if value is None:
        return None
    if quantum:
        value = value.quantize(Decimal(quantum))
    return format(value, "f")


class InstrumentSerializer(serializers.ModelSerializer):
    eligible = serializers.BooleanField(source="collateral_eligible", read_only=True)
    haircut = serializers.SerializerMethodField()
    last_price = serializers.SerializerMethodField()
    last_price_at = serializers.SerializerMethodField()

    class Meta:
        model = Instrument
        fields = [
            "id",
            "code",
            "exchange",
            "name",
            "category",
            "haircut",
            "eligible",
            "financing_eligible",
            "financing_stopped",
            "is_st",
            "suspended",
            "delisting",
            "price_limit",
            "lot_size",
            "last_price",
            "last_price_at",
        ]

    def get_haircut(self, obj) -> str:
        return _s(obj.effective_haircut, "0.0001")

    def get_last_price(self, obj) -> str | None:
        latest = getattr(obj, "latest_price", None)
        return _s(latest.price) if latest else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_price_at(self, obj):
        latest = getattr(obj, "latest_price", None)
        return latest.at.isoformat() if latest else None


class InstrumentFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True)
    category = serializers.ChoiceField(
        choices=InstrumentCategory.choices, required=False, allow_blank=True
    )
    exchange = serializers.CharField(required=False, allow_blank=True)


class TickSerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=24)
    price = price_field()
    at = serializers.CharField(max_length=64)


class PricesInSerializer(serializers.Serializer):
    ticks = TickSerializer(many=True)
    source = serializers.CharField(max_length=40, required=False, default="api")


class PricesOutSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    ignored = serializers.IntegerField()


# the largest amount a money column holds: quantity x price must fit it
MAX_AMOUNT = Decimal(10) ** (MONEY_DIGITS - MONEY_PLACES) - Decimal(1).scaleb(-MONEY_PLACES)


class DrawdownInSerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=24)
    quantity = quantity_field(help_text="Whole shares")
    price = price_field(help_text="Trade price per share")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["quantity"] * attrs["price"] > MAX_AMOUNT:
            raise serializers.ValidationError(
                {"quantity": [_("quantity × price is larger than any amount the ledger holds")]},
                code="too_large",
            )
        return attrs


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
        "quantity": _s(f.quantity.normalize()),
        "price": _s(f.price),
        "amount": _s(f.amount),
        "principal_outstanding": _s(f.principal_outstanding),
        "interest_accrued": _s(f.interest_accrued),
        "opened_on": f.opened_on.isoformat(),
        "due_on": f.due_on.isoformat(),
        "status": f.status,
    }


def withdrawal_data(w) -> dict:
    return {
        "id": w.pk,
        "kind": w.kind,
        "amount": _s(w.amount),
        "instrument": w.instrument.ledger_unit if w.instrument_id else None,
        "quantity": _s(w.quantity.normalize()) if w.quantity is not None else None,
        "created_at": w.created_at.isoformat(),
    }


def account_summary_data(account) -> dict:
    return {
        "id": account.pk,
        "account_number": account.account_number,
        "name": account.account_name,
    }


def account_view_data(view, *, state: str) -> dict:
    """The credit account as the API renders it (AccountView + the margin state)."""
    contract = view.contract
    lines = view.lines
    withdrawable_securities = {}
    from . import margin

    for p in view.positions:
        row = view.collateral_row(p.instrument)
        qty = (
            margin.withdrawable_quantity(view.margin_account, row, lines.withdrawal)
            if row
            else Decimal(0)
        )
        withdrawable_securities[p.instrument.ledger_unit] = _s(qty.normalize() if qty else qty)
    return {
        "id": view.credit_account.pk,
        "account_number": view.credit_account.account_number,
        "name": view.credit_account.account_name,
        "contract": contract.contract_number if contract else None,
        "credit_limit": _s(contract.credit_limit) if contract else None,
        "cash": _s(view.cash, "0.01"),
        "financing_debt": _s(view.financing_debt, "0.01"),
        "accrued_interest": _s(view.accrued_interest, "0.01"),
        "positions": [
            {
                "instrument": p.instrument.ledger_unit,
                "name": p.instrument.name,
                "quantity": _s(p.quantity.normalize()),
                "price": _s(p.price),
                "price_at": p.price_at.isoformat() if p.price_at else None,
                "market_value": _s(p.market_value, "0.01"),
                "haircut": _s(p.haircut, "0.0001"),
                "financed_amount": _s(p.financed_amount, "0.01"),
            }
            for p in view.positions
        ],
        "collateral_value": _s(view.collateral_value, "0.01"),
        "total_assets": _s(view.total_assets, "0.01"),
        "total_liabilities": _s(view.total_liabilities, "0.01"),
        "maintenance_ratio": _s(view.maintenance_ratio, "0.000001")
        if view.maintenance_ratio is not None
        else None,
        "state": state,
        "lines": {
            "warning": _s(lines.warning),
            "call": _s(lines.call),
            "target": _s(lines.target),
            "withdrawal": _s(lines.withdrawal),
        },
        "financing_margin_ratio": _s(view.financing_margin_ratio),
        "available_margin": _s(view.available_margin, "0.01"),
        "withdrawable": {
            "cash": _s(view.withdrawable_cash, "0.01"),
            "securities": withdrawable_securities,
        },
    }


# --- response shapes, for the OpenAPI schema (the views render the *_data dicts above) ---------


class PositionOutSerializer(serializers.Serializer):
    instrument = serializers.CharField(help_text="Ledger unit, e.g. SSE:600519")
    name = serializers.CharField()
    quantity = serializers.CharField()
    price = serializers.CharField(allow_null=True)
    price_at = serializers.DateTimeField(allow_null=True)
    market_value = serializers.CharField()
    haircut = serializers.CharField()
    financed_amount = serializers.CharField()


class LinesOutSerializer(serializers.Serializer):
    warning = serializers.CharField()
    call = serializers.CharField()
    target = serializers.CharField()
    withdrawal = serializers.CharField()


class WithdrawableOutSerializer(serializers.Serializer):
    cash = serializers.CharField()
    securities = serializers.DictField(child=serializers.CharField())


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


class CreditAccountSummaryOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_number = serializers.CharField()
    name = serializers.CharField()


class CreditAccountOutSerializer(CreditAccountSummaryOutSerializer):
    contract = serializers.CharField(allow_null=True)
    credit_limit = serializers.CharField(allow_null=True)
    cash = serializers.CharField()
    financing_debt = serializers.CharField()
    accrued_interest = serializers.CharField()
    positions = PositionOutSerializer(many=True)
    collateral_value = serializers.CharField()
    total_assets = serializers.CharField()
    total_liabilities = serializers.CharField()
    maintenance_ratio = serializers.CharField(allow_null=True, help_text="null: no debt")
    state = serializers.CharField()
    lines = LinesOutSerializer()
    financing_margin_ratio = serializers.CharField()
    available_margin = serializers.CharField()
    withdrawable = WithdrawableOutSerializer()
    financings = FinancingOutSerializer(many=True)
