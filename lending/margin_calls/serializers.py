"""API shapes of the margin-call lifecycle. Money and ratios are decimal strings."""

from rest_framework import serializers

from lending.margin_calls.models import MarginCall, Notice


class MarginCallSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="credit_account.account_number", read_only=True)

    class Meta:
        model = MarginCall
        fields = [
            "id",
            "account",
            "issued_at",
            "ratio_at_issue",
            "assets_at_issue",
            "liabilities_at_issue",
            "call_line",
            "target_line",
            "amount_to_cure",
            "deadline",
            "status",
            "overdue_at",
            "closed_at",
            "reason",
        ]
        read_only_fields = fields


class NoticeSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="credit_account.account_number", read_only=True)

    class Meta:
        model = Notice
        fields = [
            "id",
            "account",
            "call",
            "kind",
            "stage",
            "channel",
            "subject",
            "body",
            "created_at",
            "sent_at",
            "delivered",
            "acknowledged_at",
        ]
        read_only_fields = fields
