from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_fields import NON_NEGATIVE, POSITIVE, money_field, ratio_field
from accounts.api_permissions import SecondFactorForStaffWrites

from . import simulator


class LeverageInputSerializer(serializers.Serializer):
    """Shape only (decimal strings, finite, plain, bounded); the ranges are the simulator's
    rules (lending.analytics.validate_simulator_inputs)."""

    own_capital = money_field(help_text="Own capital, > 0")
    leverage = ratio_field(sign=POSITIVE, help_text="Total assets / own capital, ≥ 1")
    asset_return = ratio_field(
        required=False, default="0", help_text="Asset return over the period, e.g. 0.10"
    )
    fee_rate = ratio_field(required=False, default="0", help_text="Fees as a fraction of assets")
    borrow_rate = ratio_field(
        required=False, default="0", help_text="Borrowing rate over the period"
    )
    price_drop = ratio_field(
        sign=NON_NEGATIVE, required=False, default="0", help_text="A price drop between 0 and 1"
    )


class LeverageOutputSerializer(serializers.Serializer):
    total_assets = serializers.CharField()
    borrowed = serializers.CharField()
    equity_return = serializers.CharField()
    equity_after_drop = serializers.CharField()
    wipeout_drop = serializers.CharField()
    wiped_out = serializers.BooleanField()


class LeverageSimulatorApi(APIView):
    """Investor education: what leverage does to equity (DOMAIN.md formulas). No login."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny, SecondFactorForStaffWrites]  # no user: a no-op

    @extend_schema(
        request=LeverageInputSerializer,
        responses=LeverageOutputSerializer,
        operation_id="simulator_leverage",
        examples=[
            OpenApiExample(
                "2× with a 20% drop",
                request_only=True,
                value={
                    "own_capital": "100000",
                    "leverage": "2",
                    "asset_return": "0.10",
                    "fee_rate": "0",
                    "borrow_rate": "0.06",
                    "price_drop": "0.20",
                },
            )
        ],
    )
    def post(self, request):
        body = LeverageInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = simulator.simulate(dict(body.validated_data))
        return Response(result.as_dict())
