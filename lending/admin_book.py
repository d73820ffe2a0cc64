"""Staff admin for the book area of lending: read-only records with their history. Haircuts,
flags and prices change on the staff pages, through the services."""

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, ReadOnlyHistoryAdmin

from .models import (
    Financing,
    Instrument,
    InterestAccrual,
    LatestPrice,
    PriceTick,
    WithdrawalRequest,
)


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "code",
        "exchange",
        "name",
        "category",
        "haircut",
        "collateral_eligible",
        "financing_eligible",
        "financing_stopped",
        "is_st",
        "suspended",
    )
    list_filter = ("exchange", "category", "is_st", "suspended", "collateral_eligible")
    search_fields = ("code", "name")


@admin.register(Financing)
class FinancingAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id",
        "credit_account",
        "instrument",
        "quantity",
        "amount",
        "principal_outstanding",
        "interest_accrued",
        "opened_on",
        "due_on",
        "status",
    )
    list_filter = ("status",)


@admin.register(WithdrawalRequest)
class WithdrawalRequestAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id",
        "credit_account",
        "kind",
        "amount",
        "instrument",
        "quantity",
        "created_at",
    )


@admin.register(PriceTick)
class PriceTickAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("instrument", "price", "at", "source", "received_at")
    list_select_related = ("instrument",)


@admin.register(LatestPrice)
class LatestPriceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("instrument", "price", "at", "prev_close")
    list_select_related = ("instrument",)


@admin.register(InterestAccrual)
class InterestAccrualAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("contract", "business_date", "principal", "annual_rate", "amount")
