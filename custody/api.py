"""Ledger API: the trial balance for staff with custody view permissions."""

from datetime import UTC, datetime

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_permissions import SecondFactorForStaffWrites
from accounts.errors import ValidationFailed
from accounts.precision import LEDGER

from . import selectors


class CustodyViewer(permissions.BasePermission):
    """Desk staff who may view ledger accounts (operations, risk, treasury, auditor...)."""

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_staff
            and user.has_perm("custody.view_ledgeraccount")
            and user.has_perm("custody.view_journalentry")
        )


class TrialBalanceRowSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    purpose_key = serializers.CharField()
    name = serializers.CharField()
    account_type = serializers.CharField()
    unit = serializers.CharField()
    debit = serializers.DecimalField(**LEDGER.fields)
    credit = serializers.DecimalField(**LEDGER.fields)


class TrialBalanceTotalSerializer(serializers.Serializer):
    unit = serializers.CharField()
    debit = serializers.DecimalField(**LEDGER.fields)
    credit = serializers.DecimalField(**LEDGER.fields)


class TrialBalanceSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(allow_null=True)
    balanced = serializers.BooleanField()
    rows = TrialBalanceRowSerializer(many=True)
    totals = TrialBalanceTotalSerializer(many=True)


class TrialBalanceView(APIView):
    """Every ledger account's debit or credit balance, with totals per unit."""

    permission_classes = [CustodyViewer, SecondFactorForStaffWrites]

    @extend_schema(
        responses=TrialBalanceSerializer,
        parameters=[
            OpenApiParameter("as_of", str, description="ISO 8601 time; default: now"),
        ],
        operation_id="ledger_trial_balance",
    )
    def get(self, request):
        as_of = None
        raw = request.query_params.get("as_of")
        if raw:
            try:
                as_of = datetime.fromisoformat(raw)
            except ValueError:
                raise ValidationFailed(
                    "as_of: an ISO 8601 time is expected", extra={"field": "as_of"}
                ) from None
            if timezone.is_naive(as_of):
                as_of = timezone.make_aware(as_of)
            try:  # 0001-01-01T00:00+14:00 is before year 1 in UTC: no database holds it
                as_of.astimezone(UTC)
            except OverflowError:
                raise ValidationFailed(
                    "as_of: the time is out of range", extra={"field": "as_of", "rule": "overflow"}
                ) from None
        tb = selectors.trial_balance(as_of=as_of)
        data = {
            "as_of": tb.as_of,
            "balanced": tb.balanced,
            "rows": [row.__dict__ for row in tb.rows],
            "totals": [{"unit": unit, **t} for unit, t in sorted(tb.totals.items())],
        }
        return Response(TrialBalanceSerializer(data).data)
