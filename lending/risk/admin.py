"""Staff admin for risk runs: read-only records with their history; runs are started on the
staff page or through the API (lending.risk.services)."""

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyHistoryAdmin
from lending.risk.models import RiskRun


@admin.register(RiskRun)
class RiskRunAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id", "kind", "status", "started_by", "created_at", "finished_at", "total_shortfall",
        "var_99", "es_99", "reserve_target", "reserve_adequacy",
    )  # fmt: skip
    list_filter = ("kind", "status")
    search_fields = ("reason",)
    history_list_display = ("status",)
