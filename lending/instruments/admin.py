"""Staff admin for instruments and prices: read-only records with their history. Haircuts,
flags and prices change on the staff pages, through the services."""

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, ReadOnlyHistoryAdmin
from lending.instruments.models import (
    ExchangeListEntry,
    ExchangeListImport,
    Instrument,
    LatestPrice,
    PriceTick,
)


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "code",
        "exchange",
        "name",
        "category",
        "board",
        "listed_on",
        "haircut",
        "collateral_eligible",
        "financing_eligible",
        "financing_stopped",
        "shorts_stopped",
        "is_st",
        "suspended",
    )
    list_filter = ("exchange", "board", "category", "is_st", "suspended", "collateral_eligible")
    search_fields = ("code", "name")


@admin.register(PriceTick)
class PriceTickAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("instrument", "price", "at", "source", "received_at")
    list_select_related = ("instrument",)


@admin.register(LatestPrice)
class LatestPriceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("instrument", "price", "at", "prev_close")
    list_select_related = ("instrument",)


@admin.register(ExchangeListImport)
class ExchangeListImportAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "exchange",
        "kind",
        "effective_on",
        "file_name",
        "sha256",
        "row_count",
        "imported_by",
        "imported_at",
    )
    list_filter = ("exchange", "kind")
    exclude = ("content",)


@admin.register(ExchangeListEntry)
class ExchangeListEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("list_import", "line", "code", "instrument", "conversion_rate")
    list_select_related = ("list_import", "instrument")
    search_fields = ("code",)
