"""API shapes of liquidation plans and their lines, and of the prepare and decide requests."""

from rest_framework import serializers

from lending.domain.margin import ORDER_RULES
from lending.liquidation.models import LiquidationPlan, LiquidationPlanLine


class LiquidationPlanLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = LiquidationPlanLine
        fields = [
            "sequence",
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
            "prepared_by",
            "prepared_at",
            "approved_by",
            "decided_at",
            "decision_reason",
            "executed_at",
            "lines",
        ]
        read_only_fields = fields


class PlanPrepareSerializer(serializers.Serializer):
    order_rule = serializers.ChoiceField(choices=sorted(ORDER_RULES), required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class PlanDecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
