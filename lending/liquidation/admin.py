"""Staff admin for liquidation plans, their orders (links to lending.Order) and fills, and
defaults: read-only records with their history; plans are prepared, decided, executed and
re-planned on the staff pages and the API."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin_mixins import ReadOnlyAdminMixin, ReadOnlyHistoryAdmin, shown_by_label
from lending.liquidation.models import (
    DefaultRecord,
    LiquidationFill,
    LiquidationOrder,
    LiquidationPlan,
    LiquidationPlanLine,
)
from lending.margin_calls.admin import ReadOnlyInline


class PlanLineInline(ReadOnlyInline):
    model = LiquidationPlanLine
    fields = (
        "sequence",
        "side",
        "instrument_code",
        "quantity",
        "limit_price",
        "lower_limit_price",
        "expected_proceeds",
        "filled_quantity",
        "proceeds",
    )


@admin.register(LiquidationPlan)
class LiquidationPlanAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id",
        "call",
        "status",
        shown_by_label("order_rule_label", _("ordering rule"), order_field="order_rule"),
        "prepared_by",
        "approved_by",
    )
    list_filter = ("status", "order_rule")
    inlines = [PlanLineInline]


class FillInline(ReadOnlyInline):
    model = LiquidationFill
    fields = (
        "fill",
        "quantity",
        "price",
        "amount",
        "filled_at",
        "interest_repaid",
        "principal_repaid",
    )


@admin.register(LiquidationOrder)
class LiquidationOrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "line", "order", "status", "quantity", "limit_price", "placed_at")
    inlines = [FillInline]


@admin.register(DefaultRecord)
class DefaultRecordAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id",
        "credit_account",
        "shortfall",
        "occurred_at",
        "covered_at",
        "recovered_amount",
        "recovered_at",
    )
