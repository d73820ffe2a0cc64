"""Staff admin for orders: orders, their fills and the execution reports as received are
read-only records here (orders are placed and cancelled through lending.orders.services; fills
come only from the exchange's reports)."""

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, ReadOnlyHistoryAdmin
from lending.orders.models import ExecutionReportRecord, Fill, Order


class FillInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Fill
    extra = 0
    fields = (
        "exec_id",
        "quantity",
        "price",
        "turnover",
        "commission",
        "stamp_duty",
        "transfer_fee",
        "executed_at",
        "entry",
    )
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "client_order_id",
        "credit_account",
        "instrument",
        "purpose",
        "quantity",
        "filled_quantity",
        "limit_price",
        "status",
        "reserved_amount",
        "trade_date",
        "created_at",
    )
    list_filter = ("status", "purpose", "trade_date")
    search_fields = ("client_order_id", "exchange_order_id", "credit_account__account_number")
    list_select_related = ("credit_account", "instrument")
    inlines = [FillInline]
    history_list_display = ("status", "filled_quantity", "reserved_amount")


@admin.register(Fill)
class FillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "exec_id",
        "order",
        "quantity",
        "price",
        "turnover",
        "commission",
        "stamp_duty",
        "transfer_fee",
        "executed_at",
    )
    search_fields = ("exec_id", "order__client_order_id")
    list_select_related = ("order",)


@admin.register(ExecutionReportRecord)
class ExecutionReportRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "exec_id",
        "cl_ord_id",
        "exec_type",
        "ord_status",
        "last_qty",
        "last_px",
        "received_at",
        "applied_at",
        "outcome",
    )
    list_filter = ("exec_type", "possible_duplicate")
    search_fields = ("exec_id", "cl_ord_id", "exchange_order_id")
