"""Read-only admin: filings and statements change only through the services (staff pages,
API); the admin shows them and their history."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import ClientStatement, Filing


class _ReadOnly(SimpleHistoryAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Filing)
class FilingAdmin(_ReadOnly):
    list_display = ("id", "kind", "as_of", "version", "status", "progress", "data_sha256")
    list_filter = ("kind", "status")
    history_list_display = ("status",)


@admin.register(ClientStatement)
class ClientStatementAdmin(_ReadOnly):
    list_display = ("id", "investor", "period_start", "status", "data_sha256")
    list_filter = ("status",)
