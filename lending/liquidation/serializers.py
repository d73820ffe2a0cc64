"""API shapes of liquidation plans, their lines and orders, and of the prepare, decide and
re-plan requests."""

from rest_framework import serializers

from lending.domain.margin import ORDER_RULES
from lending.liquidation.models import (
    LiquidationOrder,
    LiquidationPlan,
    LiquidationPlanLine,
    PlanLineSide,
)


class LiquidationPlanLineSerializer(serializers.ModelSerializer):
    # "sell" (a long row sold) or "buy_back" (a short row bought back, a forced buy-in); a
    # buy-back's expected_proceeds and proceeds are the turnover it pays
    side = serializers.ChoiceField(choices=PlanLineSide.choices, read_only=True)

    class Meta:
        model = LiquidationPlanLine
        fields = [
            "sequence",
            "side",
            "instrument_code",
            "quantity",
            "limit_price",
            "lower_limit_price",
            "mark_price",
            "expected_proceeds",
            "market_value",
            "filled_quantity",
            "proceeds",
        ]
        read_only_fields = fields


class LiquidationPlanSerializer(serializers.ModelSerializer):
    lines = LiquidationPlanLineSerializer(many=True, read_only=True)
    prepared_by = serializers.CharField(
        source="prepared_by.email", default=None, read_only=True, allow_null=True
    )
    approved_by = serializers.CharField(
        source="approved_by.email", default=None, read_only=True, allow_null=True
    )
    suspended_left_out = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = LiquidationPlan
        fields = [
            "id",
            "call",
            "status",
            "order_rule",
            "target_line",
            "ratio_before",
            "ratio_after",
            "restores_target",
            "assets_before",
            "liabilities_before",
            "expected_proceeds",
            "expected_shortfall",
            "suspended_left_out",
            "prepared_by",
            "prepared_at",
            "approved_by",
            "decided_at",
            "decision_reason",
            "executed_at",
            "lines",
        ]
        read_only_fields = fields


class LiquidationOrderSerializer(serializers.ModelSerializer):
    instrument_code = serializers.CharField(source="line.instrument_code", read_only=True)
    order = serializers.IntegerField(source="order_id", read_only=True, allow_null=True)
    client_order_id = serializers.CharField(
        source="order.client_order_id", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = LiquidationOrder
        fields = [
            "id",
            "order",
            "client_order_id",
            "instrument_code",
            "status",
            "quantity",
            "filled_quantity",
            "limit_price",
            "placed_at",
        ]
        read_only_fields = fields


class LiquidationExecuteSerializer(LiquidationPlanSerializer):
    """The plan after an Execute, with the orders this press sent (none when everything left
    still works at the exchange) and the orders still working."""

    orders_sent = LiquidationOrderSerializer(many=True, read_only=True)
    working_orders = LiquidationOrderSerializer(many=True, read_only=True)

    class Meta(LiquidationPlanSerializer.Meta):
        fields = [*LiquidationPlanSerializer.Meta.fields, "orders_sent", "working_orders"]
        read_only_fields = fields


class PlanPrepareSerializer(serializers.Serializer):
    order_rule = serializers.ChoiceField(choices=sorted(ORDER_RULES), required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class PlanReplanSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class PlanDecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
