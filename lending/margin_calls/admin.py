"""Staff admin for margin states, calls, notices and events: read-only records with their
history. Every change goes through the services (pages and API); the admin shows who, when
and why."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin_mixins import ReadOnlyAdminMixin, ReadOnlyHistoryAdmin, shown_by_label
from lending.margin_calls.models import AccountMarginState, MarginCall, MarginEvent, Notice


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0


@admin.register(AccountMarginState)
class AccountMarginStateAdmin(ReadOnlyHistoryAdmin):
    list_display = ("credit_account", "state", "since", "last_ratio", "last_valued_at")
    list_filter = ("state",)
    search_fields = ("credit_account__account_number", "credit_account__account_name")


class NoticeInline(ReadOnlyInline):
    model = Notice
    fields = ("kind", "stage", "channel", "created_at", "sent_at", "delivered", "acknowledged_at")


class EventInline(ReadOnlyInline):
    model = MarginEvent
    fields = ("occurred_at", "kind", "from_state", "to_state", "actor", "reason")


@admin.register(MarginCall)
class MarginCallAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id",
        "credit_account",
        "issued_at",
        "ratio_at_issue",
        "amount_to_cure",
        "deadline",
        "status",
    )
    list_filter = ("status",)
    search_fields = ("credit_account__account_number", "credit_account__account_name")
    inlines = [NoticeInline, EventInline]


@admin.register(Notice)
class NoticeAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id",
        "credit_account",
        "kind",
        "stage",
        "channel",
        "created_at",
        "sent_at",
        "delivered",
        "acknowledged_at",
    )
    list_filter = ("kind", "channel", "delivered")


@admin.register(MarginEvent)
class MarginEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "credit_account",
        shown_by_label("kind_label", _("event"), order_field="kind"),
        shown_by_label("from_state_label", _("from state")),
        shown_by_label("to_state_label", _("to state")),
        "actor",
    )
    list_filter = ("kind",)
