"""Staff admin for financings, interest accruals and withdrawals: read-only records with their
history; every change goes through the services."""

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, ReadOnlyHistoryAdmin
from lending.financing.models import Financing, InterestAccrual, WithdrawalRequest


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


@admin.register(InterestAccrual)
class InterestAccrualAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("contract", "business_date", "principal", "annual_rate", "amount")
