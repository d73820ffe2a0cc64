"""Staff admin for credit. Applications are decided on the staff review page (four eyes,
second factor); contracts and accounts are read-only records here, with their history."""

from django.contrib import admin

from accounts.admin_mixins import AppendOnlyHistoryAdmin, ReadOnlyHistoryAdmin
from lending.credit import services as credit
from lending.credit.models import CreditAccount, CreditApplication, CreditContract, PricingGridEntry

# Each area of lending registers its own admin classes.


@admin.register(CreditApplication)
class CreditApplicationAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id",
        "investor",
        "kind",
        "requested_limit",
        "status",
        "prepared_by",
        "decided_by",
        "submitted_at",
    )
    list_filter = ("status", "kind")
    search_fields = ("investor__real_name", "investor__user__email")
    history_list_display = ("status", "decision_reason")


@admin.register(CreditContract)
class CreditContractAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "contract_number",
        "investor",
        "credit_limit",
        "annual_interest_rate",
        "financing_margin_ratio",
        "signed_on",
        "ends_on",
        "status",
    )
    list_filter = ("status", "credit_grade")
    search_fields = ("contract_number", "investor__real_name")


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyHistoryAdmin):
    list_display = ("account_number", "account_name", "investor", "status", "opened_at")
    list_filter = ("status",)
    search_fields = ("account_number", "account_name")


@admin.register(PricingGridEntry)
class PricingGridEntryAdmin(AppendOnlyHistoryAdmin):
    """New dated rates are added; a past rate is never edited."""

    list_display = ("credit_grade", "collateral_liquidity", "annual_rate", "effective_from")
    list_filter = ("effective_from", "credit_grade")

    def save_model(self, request, obj, form, change):
        entry = credit.pricing_entry_add(
            credit_grade=obj.credit_grade,
            collateral_liquidity=obj.collateral_liquidity,
            annual_rate=obj.annual_rate,
            effective_from=obj.effective_from,
            actor=request.user,
        )
        obj.pk = entry.pk
