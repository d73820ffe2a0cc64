"""Staff admin for financings, interest accruals and withdrawals: read-only records with their
history; every change goes through the services."""

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, ReadOnlyHistoryAdmin
from lending.financing.models import (
    CorporateAction,
    CorporateActionEntitlement,
    Financing,
    FinancingExtension,
    InterestAccrual,
    PenaltyAccrual,
    RightsSubscription,
    WithdrawalRequest,
)


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


@admin.register(PenaltyAccrual)
class PenaltyAccrualAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("financing", "business_date", "principal", "annual_rate", "amount")


@admin.register(FinancingExtension)
class FinancingExtensionAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id",
        "financing",
        "credit_account",
        "months",
        "old_due_on",
        "new_due_on",
        "status",
        "prepared_by",
        "decided_by",
    )
    list_filter = ("status",)


@admin.register(CorporateAction)
class CorporateActionAdmin(ReadOnlyHistoryAdmin):
    list_display = ("id", "instrument", "kind", "record_date", "ex_date", "pay_date", "status")
    list_filter = ("kind", "status")


@admin.register(CorporateActionEntitlement)
class CorporateActionEntitlementAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "corporate_action",
        "investor",
        "quantity_held",
        "cash_amount",
        "new_shares",
        "rights_quantity",
        "paid_at",
    )


@admin.register(RightsSubscription)
class RightsSubscriptionAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id",
        "entitlement",
        "credit_account",
        "quantity",
        "price",
        "amount",
        "status",
        "created_at",
    )
    list_filter = ("status",)
