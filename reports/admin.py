"""Read-only admin: filings and statements change only through the services (staff pages,
API); the admin shows them and their history."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin_mixins import ReadOnlyHistoryAdmin

from . import kinds
from .models import ClientStatement, Filing


@admin.register(Filing)
class FilingAdmin(ReadOnlyHistoryAdmin):
    list_display = ("id", "kind_title", "as_of", "version", "status", "progress", "data_sha256")

    @admin.display(description=_("kind"), ordering="kind")
    def kind_title(self, obj):
        found = kinds.KINDS.get(obj.kind)
        return found.title if found else obj.kind

    list_filter = ("kind", "status")
    history_list_display = ("status",)


@admin.register(ClientStatement)
class ClientStatementAdmin(ReadOnlyHistoryAdmin):
    list_display = ("id", "investor", "period_start", "status", "data_sha256")
    list_filter = ("status",)
