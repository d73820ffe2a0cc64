"""Staff admin for mark-to-market runs: read-only records (runs start from the staff page or
the API)."""

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin
from lending.mtm.models import MtmRun, MtmShard


class MtmShardInline(admin.TabularInline):
    model = MtmShard
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in MtmShard._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MtmRun)
class MtmRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "trigger",
        "shards_done",
        "shards_total",
        "accounts_valued",
        "calls_issued",
        "cures",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "kind")
    exclude = ("prices",)
    inlines = [MtmShardInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in MtmRun._meta.fields if f.name != "prices"]
