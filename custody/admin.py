"""Staff admin for the ledger. Entries, postings and balances are read-only (PostgreSQL refuses
changes anyway); actions call services, which record who and why."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.admin_mixins import (
    GuardedActionsMixin,
    ReadOnlyAdminMixin,
    action_needs,
    shown_as_data,
)
from accounts.errors import ApplicationError

from . import selectors, services
from .models import (
    BreakStatus,
    ClientMoneyRequirement,
    CreditFacility,
    JournalEntry,
    LedgerAccount,
    Posting,
    Reconciliation,
    ReconciliationBreak,
    ReserveTarget,
    StatementImport,
    StatementLine,
)


def _run(modeladmin, request, fn, done_message):
    try:
        fn()
    except ApplicationError as exc:
        modeladmin.message_user(request, exc.message, level=messages.ERROR)
    else:
        modeladmin.message_user(request, done_message, level=messages.SUCCESS)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = (
        shown_as_data("purpose_key", _("key"), code=True),
        shown_as_data("name", _("name")),
        "account_type",
        "unit",
        "owner",
        "balance",
    )
    list_filter = ("account_type", "owner", "purpose", "unit", "client_money", "segregated")
    search_fields = ("purpose_key", "name", "external_ref")
    history_list_display = ("external_ref",)

    @admin.display(description=_("balance"))
    def balance(self, obj: LedgerAccount):
        return selectors.account_balance(account=obj)


class PostingInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Posting
    fields = ("account", "unit", "amount")
    readonly_fields = fields
    extra = 0


@admin.register(JournalEntry)
class JournalEntryAdmin(GuardedActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "effective_date",
        "kind",
        shown_as_data("memo", _("memo")),
        "actor",
        shown_as_data("reversal_of", _("reversal of")),
    )
    list_filter = ("kind", "effective_date")
    search_fields = ("memo", "idempotency_key")
    inlines = [PostingInline]
    actions = ["reverse_entries"]

    def has_change_permission(self, request, obj=None):
        # the change page is needed to read an entry; nothing on it is editable
        return request.user.has_perm("custody.view_journalentry")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @action_needs("custody.reverse_journalentry", description=_("Reverse the selected entries"))
    def reverse_entries(self, request, queryset):
        for entry in queryset:
            _run(
                self,
                request,
                lambda entry=entry: services.entry_reverse(
                    entry=entry, actor=request.user, reason=f"reversed from admin by {request.user}"
                ),
                _("Entry reversed."),
            )


class StatementLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = StatementLine
    fields = ("line_number", "external_ref", "unit", "closing_balance", "account")
    readonly_fields = fields
    extra = 0


@admin.register(StatementImport)
class StatementImportAdmin(GuardedActionsMixin, ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ("statement_date", "source", "institution", "file_name", "imported_by")
    list_filter = ("source", "institution")
    inlines = [StatementLineInline]
    actions = ["reconcile"]

    # its own permission (the service checks it again): viewing a statement is not enough
    @action_needs("custody.add_reconciliation", description=_("Run the external reconciliation"))
    def reconcile(self, request, queryset):
        for statement in queryset:
            _run(
                self,
                request,
                lambda s=statement: services.reconciliation_external_run(
                    statement=s, actor=request.user
                ),
                _("Reconciliation run."),
            )


class BreakInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReconciliationBreak
    fields = (
        "account",
        "unit",
        "expected",
        "actual",
        "difference",
        "status",
        "due_at",
        "resolution",
        "resolution_entry",
        "resolved_by",
        "resolved_at",
    )
    readonly_fields = fields
    extra = 0


@admin.register(Reconciliation)
class ReconciliationAdmin(GuardedActionsMixin, SimpleHistoryAdmin):
    list_display = ("business_date", "kind", "unit", "status", "run_by", "run_at")
    list_filter = ("kind", "status")
    inlines = [BreakInline]
    actions = ["resolve_breaks"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    # resolving moves house money (the service checks it again)
    @action_needs(
        "custody.move_housemoney",
        description=_("Resolve open breaks (top-up or withdraw the excess)"),
    )
    def resolve_breaks(self, request, queryset):
        for reconciliation in queryset:
            for brk in reconciliation.breaks.filter(status=BreakStatus.OPEN):
                _run(
                    self,
                    request,
                    lambda b=brk: services.reconciliation_break_resolve(
                        brk=b, actor=request.user, reason=f"resolved from admin by {request.user}"
                    ),
                    _("Break resolved."),
                )


@admin.register(ReconciliationBreak)
class ReconciliationBreakAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ("id", "reconciliation", "unit", "difference", "status", "due_at")
    list_filter = ("status", "resolution")


@admin.register(ClientMoneyRequirement)
class ClientMoneyRequirementAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """The summaries; each one's inputs per client (a line per client, a million on a large
    book) are on its staff page, a page at a time, not in an inline."""

    list_display = (
        "business_date",
        "currency",
        "credits",
        "debits",
        "requirement",
        "segregated_funds",
        "clients",
        "lines",
    )
    readonly_fields = ("lines",)

    @admin.display(description=_("inputs per client"))
    def lines(self, obj: ClientMoneyRequirement):
        url = reverse("staff:custody-client-money-requirement", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Inputs per client"))


@admin.register(CreditFacility)
class CreditFacilityAdmin(SimpleHistoryAdmin):
    list_display = ("bank", "currency", "limit", "drawn", "available", "expiry_date", "status")
    list_filter = ("status", "currency")
    fields = (
        "bank",
        "limit",
        "currency",
        "start_date",
        "expiry_date",
        "fee_rate",
        "covenants",
        "status",
    )

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj is not None else ("status",)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("drawn"))
    def drawn(self, obj):
        return selectors.facility_drawn(facility=obj)

    @admin.display(description=_("available"))
    def available(self, obj):
        return selectors.facility_available(facility=obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = services.facility_create(
            bank=obj.bank,
            limit=obj.limit,
            currency=obj.currency,
            start_date=obj.start_date,
            expiry_date=obj.expiry_date,
            fee_rate=obj.fee_rate,
            covenants=obj.covenants,
            actor=request.user,
            reason=f"created from admin by {request.user}",
        )
        obj.pk = created.pk


@admin.register(ReserveTarget)
class ReserveTargetAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ("currency", "target", "as_of", "source", "reserve", "adequacy")

    @admin.display(description=_("reserve"))
    def reserve(self, obj):
        return selectors.reserve_fund_balance(currency=obj.currency)

    @admin.display(description=_("reserve adequacy"))
    def adequacy(self, obj):
        return selectors.reserve_adequacy(currency=obj.currency).ratio
