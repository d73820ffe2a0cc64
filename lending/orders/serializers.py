"""API shapes of orders and fills. Money, prices and quantities are decimal strings; no rules
here (the service checks everything and names the field it refuses)."""

from rest_framework import serializers

from accounts.api_fields import price_field, quantity_field
from lending.common.api import decimal_text
from lending.orders.models import OrderPurpose

#: What an investor or staff may place: liquidation sales and forced buy-ins are a plan's.
PLACEABLE = [
    (p.value, p.label)
    for p in OrderPurpose
    if p not in (OrderPurpose.LIQUIDATION, OrderPurpose.BUY_IN)
]


class OrderInSerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=24, help_text="e.g. SSE:600000")
    purpose = serializers.ChoiceField(choices=PLACEABLE)
    quantity = quantity_field(help_text="Whole lots of shares")
    limit_price = price_field(help_text="Day limit price, within the day's price band")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class CancelInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class FillOutSerializer(serializers.Serializer):
    exec_id = serializers.CharField()
    price = serializers.CharField()
    quantity = serializers.CharField()
    turnover = serializers.CharField()
    commission = serializers.CharField()
    stamp_duty = serializers.CharField()
    transfer_fee = serializers.CharField()
    executed_at = serializers.DateTimeField()


class OrderOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    client_order_id = serializers.CharField()
    credit_account = serializers.IntegerField()
    instrument = serializers.CharField()
    side = serializers.CharField()
    purpose = serializers.CharField()
    quantity = serializers.CharField()
    limit_price = serializers.CharField()
    time_in_force = serializers.CharField()
    status = serializers.CharField()
    filled_quantity = serializers.CharField()
    reserved_amount = serializers.CharField()
    exchange_order_id = serializers.CharField()
    status_text = serializers.CharField()
    cancel_requested = serializers.BooleanField()
    trade_date = serializers.DateField()
    created_at = serializers.DateTimeField()
    fills = FillOutSerializer(many=True)


def fill_data(f) -> dict:
    return {
        "exec_id": f.exec_id,
        "price": decimal_text(f.price),
        "quantity": decimal_text(f.quantity.normalize()),
        "turnover": decimal_text(f.turnover),
        "commission": decimal_text(f.commission),
        "stamp_duty": decimal_text(f.stamp_duty),
        "transfer_fee": decimal_text(f.transfer_fee),
        "executed_at": f.executed_at.isoformat(),
    }


def order_data(o) -> dict:
    return {
        "id": o.pk,
        "client_order_id": o.client_order_id,
        "credit_account": o.credit_account_id,
        "instrument": o.instrument.ledger_unit,
        "side": o.side,
        "purpose": o.purpose,
        "quantity": decimal_text(o.quantity.normalize()),
        "limit_price": decimal_text(o.limit_price),
        "time_in_force": o.time_in_force,
        "status": o.status,
        "filled_quantity": decimal_text(o.filled_quantity.normalize()),
        "reserved_amount": decimal_text(o.reserved_amount),
        "exchange_order_id": o.exchange_order_id,
        "status_text": o.status_text,
        "cancel_requested": o.cancel_requested_at is not None,
        "trade_date": o.trade_date.isoformat(),
        "created_at": o.created_at.isoformat(),
        "fills": [fill_data(f) for f in o.fills.all()],
    }
