"""Read-only admin: filings and statements change only through the services (staff pages,
API); the admin shows them and their history."""

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyHistoryAdmin

from .models import ClientStatement, Filing


@admin.register(Filing)
class FilingAdmin(ReadOnlyHistoryAdmin):
    list_display = ("id", "kind", "as_of", "version", "status", "progress", "data_sha256")
    list_filter = ("kind", "status")
    history_list_display = ("status",)


@admin.register(ClientStatement)
class ClientStatementAdmin(ReadOnlyHistoryAdmin):
    list_display = ("id", "investor", "period_start", "status", "data_sha256")
    list_filter = ("status",)
