"""API shapes of credit applications and contracts. Money and ratios are decimal strings; no
rules here."""

from rest_framework import serializers

from accounts.api_fields import money_field
from lending.credit.models import CreditApplication, CreditContract


class CreditApplicationSerializer(serializers.ModelSerializer):
    """Money as decimal strings (COERCE_DECIMAL_TO_STRING)."""

    investor = serializers.CharField(source="investor.real_name", read_only=True)
    # null until the step happens (the schema says so: allow_null)
    prepared_by = serializers.EmailField(
        source="prepared_by.email", read_only=True, default=None, allow_null=True
    )
    decided_by = serializers.EmailField(
        source="decided_by.email", read_only=True, default=None, allow_null=True
    )
    contract = serializers.CharField(
        source="contract.contract_number", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = CreditApplication
        fields = [
            "id",
            "investor",
            "kind",
            "contract",
            "requested_limit",
            "requested_term_months",
            "purpose",
            "status",
            "submitted_at",
            "prepared_by",
            "prepared_at",
            "credit_grade",
            "collateral_liquidity",
            "proposed_limit",
            "proposed_term_months",
            "decided_by",
            "decided_at",
            "decision_reason",
        ]
        read_only_fields = fields


class CreditApplicationCreateSerializer(serializers.Serializer):
    requested_limit = money_field()
    requested_term_months = serializers.IntegerField()
    purpose = serializers.CharField(max_length=300, required=False, default="")


class PrepareSerializer(serializers.Serializer):
    credit_grade = serializers.CharField()
    collateral_liquidity = serializers.CharField()
    proposed_limit = money_field()
    proposed_term_months = serializers.IntegerField()
    note = serializers.CharField()


class DecisionSerializer(serializers.Serializer):
    reason = serializers.CharField()


class RenewalSerializer(serializers.Serializer):
    requested_term_months = serializers.IntegerField()


class CreditContractSerializer(serializers.ModelSerializer):
    credit_account = serializers.CharField(source="credit_account.account_number")
    account_name = serializers.CharField(source="credit_account.account_name")
    disclosure_version = serializers.IntegerField(source="disclosure.version")

    class Meta:
        model = CreditContract
        fields = [
            "id",
            "contract_number",
            "credit_account",
            "account_name",
            "status",
            "currency",
            "credit_limit",
            "signed_on",
            "starts_on",
            "ends_on",
            "term_months",
            "renewal_count",
            "annual_interest_rate",
            "credit_grade",
            "collateral_liquidity",
            "warning_line",
            "call_line",
            "target_line",
            "withdrawal_line",
            "financing_margin_ratio",
            "disclosure_version",
            "disclosure_sha256",
        ]
        read_only_fields = fields
