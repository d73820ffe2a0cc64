"""Staff admin for the lending inventory: read-only records with their history. Lots are
added, withdrawn and reservations released on the staff page, through the services."""

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyHistoryAdmin
from lending.shorts.models import (
    LendingLot,
    LendingLotWithdrawal,
    ShortReservation,
    ShortReservationAllocation,
)


@admin.register(LendingLot)
class LendingLotAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "confirmation_reference",
        "instrument",
        "source",
        "quantity",
        "reserved",
        "lent",
        "acquired_on",
    )
    list_filter = ("source",)
    list_select_related = ("instrument",)
    search_fields = ("confirmation_reference", "instrument__code")


@admin.register(LendingLotWithdrawal)
class LendingLotWithdrawalAdmin(ReadOnlyHistoryAdmin):
    list_display = ("lot", "quantity", "withdrawn_by", "created_at")
    list_select_related = ("lot", "withdrawn_by")


@admin.register(ShortReservation)
class ShortReservationAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "pk",
        "instrument",
        "credit_account",
        "quantity",
        "lent",
        "released",
        "returned",
        "status",
        "created_at",
    )
    list_filter = ("status",)
    list_select_related = ("instrument", "credit_account")


@admin.register(ShortReservationAllocation)
class ShortReservationAllocationAdmin(ReadOnlyHistoryAdmin):
    list_display = ("reservation", "lot", "quantity", "lent", "released", "returned")
    list_select_related = ("reservation", "lot")
